"""The shipment repository on the Django ORM, always on the ``logistics`` alias.

Every write stores the shipment and the events it carries in one transaction
(``logistics.adapters.shipment_events``): a change is never committed unannounced.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce

from logistics.adapters import shipment_events
from logistics.domain import (
    Shipment,
    ShipmentChanged,
    ShipmentItem,
    ShipmentNotFound,
    ShipmentStatus,
)
from logistics.models import ShipmentRecord

ALIAS = "logistics"
# What a save writes: the domain's state. Not the identity, nor the version (the save bumps
# it), nor the lease of its dispatch task (not the shipment's state: tasks and sweeps keep it).
_SAVED_FIELDS = tuple(
    field.attname
    for field in ShipmentRecord._meta.concrete_fields
    if field.name
    not in {"id", "order_ref", "created_at", "version", "claimed_until", "handed_over_at"}
)


def to_domain(record: ShipmentRecord) -> Shipment:
    return Shipment(
        id=record.id,
        order_ref=record.order_ref,
        destination=record.destination,
        items=tuple(ShipmentItem(sku=i["sku"], quantity=i["quantity"]) for i in record.items),
        status=ShipmentStatus(record.status),
        version=record.version,
        owner_id=record.owner_id,
        contact_email=record.contact_email or None,
        supplier_reference=record.supplier_reference or None,
        tracking_number=record.tracking_number or None,
        attempt_count=record.attempt_count,
        next_attempt_at=record.next_attempt_at,
        last_error=record.last_error or None,
        needs_attention=record.needs_attention,
        dispatched_at=record.dispatched_at,
        delivered_at=record.delivered_at,
        cancelled_at=record.cancelled_at,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def to_record(shipment: Shipment) -> ShipmentRecord:
    return ShipmentRecord(
        id=shipment.id,
        order_ref=shipment.order_ref,
        destination=shipment.destination,
        items=[{"sku": item.sku, "quantity": item.quantity} for item in shipment.items],
        status=shipment.status.value,
        version=shipment.version,
        owner_id=shipment.owner_id,
        contact_email=shipment.contact_email or "",
        supplier_reference=shipment.supplier_reference or "",
        tracking_number=shipment.tracking_number or "",
        attempt_count=shipment.attempt_count,
        next_attempt_at=shipment.next_attempt_at,
        last_error=shipment.last_error or "",
        needs_attention=shipment.needs_attention,
        dispatched_at=shipment.dispatched_at,
        delivered_at=shipment.delivered_at,
        cancelled_at=shipment.cancelled_at,
        created_at=shipment.created_at,
        updated_at=shipment.updated_at or shipment.created_at,
    )


class DjangoShipmentRepository:
    def __init__(self, alias: str = ALIAS) -> None:
        self.alias = alias

    def _records(self) -> QuerySet[ShipmentRecord]:
        return ShipmentRecord.objects.using(self.alias)

    def get(self, shipment_id: uuid.UUID) -> Shipment:
        try:
            return to_domain(self._records().get(pk=shipment_id))
        except ShipmentRecord.DoesNotExist:
            raise ShipmentNotFound(shipment_id) from None

    def get_by_order_ref(self, order_ref: str) -> Shipment:
        try:
            return to_domain(self._records().get(order_ref=order_ref))
        except ShipmentRecord.DoesNotExist:
            raise ShipmentNotFound(order_ref) from None

    def find_by_order_refs(self, order_refs: Collection[str]) -> dict[str, Shipment]:
        records = self._records().filter(order_ref__in=list(order_refs))
        return {record.order_ref: to_domain(record) for record in records}

    def _due(self, now: datetime, never_tried_before: datetime) -> QuerySet[ShipmentRecord]:
        # Never attempted and created before ``never_tried_before``: the process that created
        # it died before dispatching, or its task was lost. Rejected ones (no next attempt, an
        # error) wait for a human.
        never_tried = Q(
            next_attempt_at__isnull=True, attempt_count=0, created_at__lt=never_tried_before
        )
        return (
            self._records()
            .filter(Q(next_attempt_at__lte=now) | never_tried, status=ShipmentStatus.PENDING.value)
            .order_by("next_attempt_at", "created_at")
        )

    def due_for_dispatch(self, now: datetime, limit: int) -> list[Shipment]:
        return [to_domain(record) for record in self._due(now, now)[:limit]]

    def claim_due_for_dispatch(
        self,
        now: datetime,
        limit: int,
        *,
        until: datetime,
        never_tried_before: datetime,
        queued_since: datetime | None = None,
    ) -> list[uuid.UUID]:
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
        candidates_query = self._due(now, never_tried_before).filter(free)
        if queued_since is not None:
            # Handed over since the oldest task still waiting in the queue was sent: its task
            # may be waiting behind that one (FIFO), so it is not lost.
            candidates_query = candidates_query.annotate(
                last_handed_over=Coalesce("handed_over_at", "created_at")
            ).filter(last_handed_over__lt=queued_since)
        claimed: list[uuid.UUID] = []
        with transaction.atomic(using=self.alias):
            # PostgreSQL: rows another claimer holds are skipped, so sweeps running at once take
            # different shipments instead of queueing on the same ones. SQLite has no row locks
            # (select_for_update is a no-op there): its transaction takes the database's write
            # lock when it begins (IMMEDIATE), so claimers run one after the other.
            candidates = list(
                candidates_query.select_for_update(skip_locked=True).values_list("pk", flat=True)[
                    :limit
                ]
            )
            for pk in candidates:
                # Conditional on every backend: of two claimers, one UPDATE matches the row.
                if (
                    self._records()
                    .filter(free, pk=pk)
                    .update(claimed_until=until, handed_over_at=now)
                ):
                    claimed.append(pk)
        return claimed

    def lease_dispatch(
        self, shipment_id: uuid.UUID, until: datetime | None, *, handed_over_at: datetime | None
    ) -> None:
        fields: dict[str, datetime | None] = {"claimed_until": until}
        if handed_over_at is not None:
            fields["handed_over_at"] = handed_over_at
        self._records().filter(pk=shipment_id).update(**fields)

    def add_if_absent(self, shipment: Shipment) -> tuple[Shipment, bool]:
        try:
            with transaction.atomic(using=self.alias):
                to_record(shipment).save(using=self.alias, force_insert=True)
                shipment_events.record(shipment, self.alias)
        except IntegrityError:
            # Another caller created the order's shipment first: theirs is the shipment.
            return self.get_by_order_ref(shipment.order_ref), False
        return shipment, True

    def add_many_if_absent(self, shipments: Sequence[Shipment]) -> int:
        refs = [shipment.order_ref for shipment in shipments]
        with transaction.atomic(using=self.alias):
            existing = set(
                self._records().filter(order_ref__in=refs).values_list("order_ref", flat=True)
            )
            new = [to_record(s) for s in shipments if s.order_ref not in existing]
            # ignore_conflicts covers a concurrent writer between the lookup and the insert.
            ShipmentRecord.objects.using(self.alias).bulk_create(new, ignore_conflicts=True)
        return len(new)

    def save(self, shipment: Shipment) -> None:
        """Write the shipment over the version it was loaded at, or raise ShipmentChanged.

        One conditional UPDATE: no lock is taken before it, so none is held while the caller
        talks to the supplier, and a writer that loaded an older version writes nothing. Its
        events are recorded in the same transaction, at the version it wrote.
        """
        record = to_record(shipment)
        with transaction.atomic(using=self.alias):
            written = (
                self._records()
                .filter(pk=shipment.id, version=shipment.version)
                .update(
                    version=F("version") + 1,
                    **{name: getattr(record, name) for name in _SAVED_FIELDS},
                )
            )
            if not written:
                if not self._records().filter(pk=shipment.id).exists():
                    raise ShipmentNotFound(shipment.id)
                raise ShipmentChanged(shipment.id, shipment.version)
            shipment.version += 1
            shipment_events.record(shipment, self.alias)
