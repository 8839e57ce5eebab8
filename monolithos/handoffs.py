"""The legacy app's hand-offs that the database says are still owed, for beat's sweeps.

Every piece of work an order owes is handed over through the outbox, which follows each message
to its end (docs/adr/0015). What it cannot see is work whose message is done or was never
recorded: messages counted done before completion meant done, a legacy request that died after
its commit and before its synchronous steps, a shipment that went missing. These finders ask
the database instead, and give such work back to the outbox (``publish_again``):

- an order without its shipment: placed in the last OWED_WORK_LOOKBACK_HOURS, older than
  OWED_WORK_LEASE_SECONDS, not cancelled, no outstanding ``shipment:<number>`` message, and no
  shipment for it in the logistics context (``logistics.public``'s ``find_for_orders``);
- an invoice not rendered: a version without its PDF, older than the lease, no outstanding
  render message.

Reads go to the primary (a lagging replica would hand over work just done). Imports the legacy
models, ``logistics.public`` and ``outbox.messages`` only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from logistics.public import CREATE_SHIPMENT_TASK, build_logistics_service
from monolithos.models import Invoice, Order
from monolithos.placement import RENDER_INVOICE_TASK, shipment_command
from observability.metrics import OWED_WORK_HANDED_OVER
from outbox.messages import Message, outstanding_message, publish_again

BATCH = 500


def _primary(queryset: QuerySet[Any]) -> QuerySet[Any]:
    return queryset.using(router.db_for_write(queryset.model))


def orders_without_shipment(limit: int) -> list[Order]:
    """Orders owed a shipment that nothing is handing over, oldest first (at most ``limit``)."""
    now = timezone.now()
    candidates = (
        _primary(Order.objects.all())
        .filter(
            number__isnull=False,
            created_at__gte=now - timedelta(hours=settings.OWED_WORK_LOOKBACK_HOURS),
            created_at__lt=now - timedelta(seconds=settings.OWED_WORK_LEASE_SECONDS),
        )
        .exclude(status="cancelled")
        .annotate(key=Concat(Value("shipment:"), F("number")))
        .exclude(outstanding_message("key"))
        .order_by("pk")
        .values_list("pk", "number")
    )
    logistics = build_logistics_service()
    missing: list[int] = []
    last = 0
    while len(missing) < limit:
        batch = list(candidates.filter(pk__gt=last)[:BATCH])
        if not batch:
            break
        found = logistics.find_for_orders([number for _, number in batch])
        missing += [pk for pk, number in batch if number not in found]
        last = batch[-1][0]
    orders = _primary(Order.objects.filter(pk__in=missing[:limit]))
    return list(orders.select_related("customer").prefetch_related("lines").order_by("pk"))


def hand_shipments_over_again(orders: list[Order]) -> None:
    with transaction.atomic():
        for order in orders:
            publish_again(
                Message(
                    task=CREATE_SHIPMENT_TASK,
                    key=f"shipment:{order.number}",
                    kwargs={"shipment": shipment_command(order).model_dump(mode="json")},
                )
            )
    OWED_WORK_HANDED_OVER.labels(kind="shipment").inc(len(orders))


def invoices_not_rendered(limit: int) -> list[tuple[int, str]]:
    """(id, render key) of the invoices owed a PDF that nothing is handing over, oldest first."""
    cutoff = timezone.now() - timedelta(seconds=settings.OWED_WORK_LEASE_SECONDS)
    owed = (
        _primary(Invoice.objects.all())
        .filter(created_at__lt=cutoff)
        .filter(Q(rendered_version__isnull=True) | Q(rendered_version__lt=F("version")))
        .annotate(
            key=Concat(Value("invoice:"), F("number"), Value(":v"), Cast("version", CharField()))
        )
        .exclude(outstanding_message("key"))
        .order_by("pk")
        .values_list("pk", "key")[:limit]
    )
    return list(owed)


def hand_renders_over_again(invoices: list[tuple[int, str]]) -> None:
    with transaction.atomic():
        for invoice_id, key in invoices:
            publish_again(
                Message(task=RENDER_INVOICE_TASK, key=key, kwargs={"invoice_id": invoice_id})
            )
    OWED_WORK_HANDED_OVER.labels(kind="invoice").inc(len(invoices))
