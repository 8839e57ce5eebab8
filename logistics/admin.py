"""The back office's view of shipments: browse and search, retry a dispatch, cancel, and the
shipments that need attention (a dispatch the supplier accepted after the cancel).

Every field belongs to the service, so the change form is read-only and shipments are neither
added nor deleted here (they come from orders); the actions are the only way to change one,
and each calls the service once per selected shipment. The router keeps the rows on the
``logistics`` alias.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from logistics.api.permissions import can_manage_shipments
from logistics.domain import IllegalTransition, ShipmentNotFound, ShipmentStatus
from logistics.models import ShipmentRecord
from logistics.wiring import build_logistics_service

if TYPE_CHECKING:
    # django-stubs makes ModelAdmin generic; at run time Django's class is not subscriptable.
    _ShipmentAdminBase = admin.ModelAdmin[ShipmentRecord]
else:
    _ShipmentAdminBase = admin.ModelAdmin


@admin.register(ShipmentRecord)
class ShipmentRecordAdmin(_ShipmentAdminBase):
    list_display = (
        "order_ref",
        "status",
        "supplier_reference",
        "tracking_number",
        "attempt_count",
        "next_attempt_at",
        "needs_attention",
        "created_at",
    )
    list_filter = ("status", "needs_attention")
    search_fields = ("order_ref", "supplier_reference", "tracking_number")
    date_hierarchy = "created_at"
    readonly_fields = tuple(
        field.name for field in ShipmentRecord._meta.get_fields() if field.concrete
    )
    actions = ("retry_dispatch", "cancel", "resolve_attention")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ShipmentRecord | None = None
    ) -> bool:
        # A saved form would write every column back, racing the service and skipping the
        # domain's rules: the actions below are the only writers.
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ShipmentRecord | None = None
    ) -> bool:
        return False

    def has_manage_shipments_permission(self, request: HttpRequest) -> bool:
        return can_manage_shipments(request.user)

    @admin.action(description="Retry dispatch", permissions=["manage_shipments"])
    def retry_dispatch(self, request: HttpRequest, queryset: QuerySet[ShipmentRecord]) -> None:
        service = build_logistics_service()
        dispatched = pending = illegal = 0
        for record in queryset:
            try:
                outcome = service.dispatch(record.id)
            except (IllegalTransition, ShipmentNotFound):
                illegal += 1
                continue
            if outcome.dispatched:
                dispatched += 1
                self.log_change(request, record, "Dispatched through the admin.")
            else:
                pending += 1
                self.log_change(
                    request, record, f"Dispatch failed, still pending: {outcome.failure_detail}."
                )
        self._report(
            request,
            f"{dispatched} dispatched, {pending} still pending (the supplier did not take them), "
            f"{illegal} not pending (nothing done).",
            clean=pending == illegal == 0,
        )

    @admin.action(description="Cancel", permissions=["manage_shipments"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[ShipmentRecord]) -> None:
        service = build_logistics_service()
        cancelled = already = illegal = 0
        for record in queryset:
            if record.status == ShipmentStatus.CANCELLED:
                already += 1  # the service would return it unchanged
                continue
            try:
                service.cancel(record.id)
            except (IllegalTransition, ShipmentNotFound):
                illegal += 1
                continue
            cancelled += 1
            self.log_change(request, record, "Cancelled through the admin.")
        self._report(
            request,
            f"{cancelled} cancelled, {already} already cancelled, "
            f"{illegal} not pending (nothing done).",
            clean=illegal == 0,
        )

    @admin.action(
        description="Mark handled: the supplier was asked to stop the parcel",
        permissions=["manage_shipments"],
    )
    def resolve_attention(self, request: HttpRequest, queryset: QuerySet[ShipmentRecord]) -> None:
        service = build_logistics_service()
        resolved = 0
        for record in queryset.filter(needs_attention=True):
            service.resolve_attention(record.id)
            resolved += 1
            self.log_change(request, record, f"Handled through the admin: {record.last_error}")
        self._report(request, f"{resolved} marked handled.", clean=True)

    def _report(self, request: HttpRequest, text: str, *, clean: bool) -> None:
        self.message_user(request, text, messages.SUCCESS if clean else messages.WARNING)
