"""Outbox messages and failed tasks in the admin: read-only, with the two actions ops need."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from outbox import broker, operations, relay
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
        # What `manage.py outbox retry` does: each once, whoever else is running it again.
        try:
            retried = operations.retry(queryset, actor=request.user.get_username())
        except broker.BrokerUnavailable as error:
            self.message_user(request, f"Stopped: {error}", messages.ERROR)
            return
        self.message_user(request, f"{retried.count} task(s) sent again.", messages.SUCCESS)

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("outbox.requeue_failedtask")
