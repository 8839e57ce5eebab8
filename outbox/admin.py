"""Outbox messages and failed tasks in the admin: read-only, with the two actions ops need."""

from __future__ import annotations

from celery import current_app
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from observability import trace
from outbox import completion, relay
from outbox.models import FailedTask, OutboxMessage


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "key",
        "task",
        "created_at",
        "publications",
        "published_at",
        "lease_expires_at",
        "done_at",
        "failed_at",
        "trace_id",
    )
    list_filter = (
        ("done_at", admin.EmptyFieldListFilter),
        ("published_at", admin.EmptyFieldListFilter),
        ("failed_at", admin.EmptyFieldListFilter),
        "task",
    )
    search_fields = ("key", "trace_id")
    actions = ("relay_now",)

    @admin.action(description="Publish the selected messages now")
    def relay_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        published = relay.relay(queryset.values_list("key", flat=True))
        self.message_user(request, f"{published} message(s) published.", messages.SUCCESS)


@admin.register(FailedTask)
class FailedTaskAdmin(ReadOnlyAdmin):
    list_display = ("task", "task_id", "reason", "deliveries", "failed_at", "requeued_at")
    list_filter = ("reason", "task", ("requeued_at", admin.EmptyFieldListFilter))
    search_fields = ("task_id", "trace_id", "error")
    actions = ("requeue",)

    @admin.action(description="Run the selected tasks again", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> None:
        count = 0
        for failed in queryset.filter(requeued_at__isnull=True):
            key = completion.key_of(failed.task_id)
            if key is not None and relay.hand_over_again(key):
                pass  # the outbox owes its message again and follows it to its end
            else:
                # Same arguments, new task id: the tasks are idempotent, so a second run is safe.
                with trace.bound_trace_id(failed.trace_id or None):
                    current_app.send_task(failed.task, args=failed.args, kwargs=failed.kwargs)
            failed.requeued_at = timezone.now()
            failed.save(update_fields=["requeued_at"])
            count += 1
        self.message_user(request, f"{count} task(s) sent again.", messages.SUCCESS)

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("outbox.requeue_failedtask")
