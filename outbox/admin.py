"""Outbox messages and failed tasks in the admin: read-only, with the two actions ops need.

Messages live on every alias whose writers publish (docs/adr/0021): the list shows one alias at a
time, ``default`` unless its "Database" filter names another, and so do a message's page (the
admin keeps the list's filters in its links) and the actions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from observability import trace
from outbox import completion, relay
from outbox.models import FailedTask, OutboxMessage, message_aliases

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DatabaseFilter(admin.SimpleListFilter):
    """Which alias's messages are listed; the admin's queryset reads the choice (below)."""

    title = "database"
    parameter_name = "database"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(alias, alias) for alias in message_aliases()]

    def choices(self, changelist: Any) -> Iterator[_ListFilterChoices]:
        # One alias at a time, ``default`` when none is chosen: no "All".
        chosen = self.value() or "default"
        for alias, title in self.lookup_choices:
            yield {
                "selected": alias == chosen,
                "query_string": changelist.get_query_string({self.parameter_name: alias}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset  # already on the chosen alias: OutboxMessageAdmin.get_queryset


def chosen_alias(request: HttpRequest) -> str:
    """The alias the list (or, through the filters the admin keeps in its links, the page of
    one message) was asked for; ``default`` when none or an unknown one."""
    params = request.GET
    if "_changelist_filters" in params:
        params = QueryDict(params["_changelist_filters"])
    alias = params.get(DatabaseFilter.parameter_name, "default")
    return alias if alias in message_aliases() else "default"


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
        DatabaseFilter,
        ("done_at", admin.EmptyFieldListFilter),
        ("published_at", admin.EmptyFieldListFilter),
        ("failed_at", admin.EmptyFieldListFilter),
        "task",
    )
    search_fields = ("key", "trace_id")
    actions = ("relay_now",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxMessage]:
        return super().get_queryset(request).using(chosen_alias(request))

    @admin.action(description="Publish the selected messages now")
    def relay_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        published = relay.relay(queryset.values_list("key", flat=True), queryset.db)
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
            message = completion.message_of(failed.task_id)
            if message is not None and relay.hand_over_again(message.key, message.alias):
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
