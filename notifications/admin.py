"""Notifications in the admin: read-only, searchable, and "send again" for failed ones."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications.models import Notification
from notifications.services import send_again


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "idempotency_key",
        "kind",
        "recipient",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "kind")
    search_fields = ("recipient", "idempotency_key", "trace_id")
    date_hierarchy = "created_at"
    actions = ("send_failed_again",)

    @admin.action(
        description="Send the selected failed notifications again", permissions=("resend",)
    )
    def send_failed_again(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        failed = queryset.filter(status=Notification.Status.FAILED)
        keys = failed.values_list("idempotency_key", flat=True)
        count = sum(send_again(idempotency_key) for idempotency_key in keys)
        self.message_user(request, f"{count} notification(s) queued again.", messages.SUCCESS)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.resend_notification")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
