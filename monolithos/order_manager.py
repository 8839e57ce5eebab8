# OrderManager: the heart of the legacy system. It does everything, in one class.
# Read monolithos/LEGACY.md before changing anything here: every smell is deliberate and
# pinned by tests/characterization/.
import datetime

import structlog
from django.db import transaction
from django.utils import timezone

from config import routers
from logistics.public import (
    IllegalTransition,
    LogisticsService,
    ShipmentNotFound,
    ShipmentStatus,
    build_logistics_service,
)
from monolithos import invoicing, placement, pricing, shipping_columns, shipping_data
from monolithos.mailer import NotificationService
from monolithos.placement import OrderError
from monolithos.repository import DatabaseRepo
from observability.metrics import order_placement

logger = structlog.get_logger(__name__)


__all__ = ["OrderError", "OrderManager", "SupplierError"]


class SupplierError(Exception):
    """The supplier said no (or said nothing useful)."""


class OrderManager:
    TAX_RATE = pricing.TAX_RATE
    SHIPPING_FLAT = pricing.SHIPPING_FLAT
    FREE_SHIPPING_THRESHOLD = pricing.FREE_SHIPPING_THRESHOLD
    BULK_QUANTITY = pricing.BULK_QUANTITY
    BULK_DISCOUNT = pricing.BULK_DISCOUNT
    DISCOUNT_CODES = pricing.DISCOUNT_CODES
    LOW_STOCK_THRESHOLD = 10

    def __init__(
        self,
        notifications: NotificationService | None = None,
        repo: DatabaseRepo | None = None,
        logistics: LogisticsService | None = None,
    ):
        # Collaborators are injected; the defaults keep every legacy call site (OrderManager())
        # working. Shipping is delegated to the logistics context (LEGACY.md).
        self.notifications = notifications or NotificationService()
        self.repo = repo or DatabaseRepo()
        self._logistics = logistics

    @property
    def logistics(self) -> LogisticsService:
        if self._logistics is None:
            self._logistics = build_logistics_service()
        return self._logistics

    # ------------------------------------------------------------------ validation
    # Validation, pricing and recording live in monolithos.placement now; these methods are the
    # legacy class's old surface over it (LEGACY.md #1: a thin facade over new code).
    def validate(self, data):
        clean = placement.validate(data, repo=self.repo)
        # The dict the legacy callers knew.
        return {
            "email": clean.email,
            "name": clean.name,
            "address": clean.address,
            "discount_code": clean.discount_code,
            "lines": list(clean.lines),
        }

    # ------------------------------------------------------------------ pricing
    money = staticmethod(placement.money)
    line_total = staticmethod(placement.line_total)
    price = staticmethod(placement.price)
    format_money = staticmethod(pricing.format_money)

    # ------------------------------------------------------------------ placing
    @order_placement("legacy", rejected=(OrderError,))
    def place_order(self, data):
        """The legacy path: everything inside the request, one slow step after another."""
        clean = placement.validate(data, repo=self.repo)
        prices = placement.price(clean.lines, clean.discount_code)
        with transaction.atomic():
            order, invoice = placement.record(clean, prices, repo=self.repo, owner_id=None)
            placement.take_stock(clean, repo=self.repo)
        self.notifications.notify_sales_team(order)
        self.render_invoice(invoice)
        self.notifications.send_confirmation(order)
        try:
            self.dispatch(order)
        except Exception as error:
            # The order is placed whatever the supplier says: its shipment stays pending and the
            # sweep dispatches it later (staff may still press "ship"). A supplier that failed
            # or a breaker that refused is one line with its reason; anything else (the
            # logistics database down, a bug) is unexpected and keeps its traceback.
            expected = isinstance(error, (ConnectionError, SupplierError))
            log = logger.warning if expected else logger.error
            log("dispatch_deferred", order=order.number, reason=str(error), exc_info=not expected)
            self.repo.mark_dispatch_failed(order)
            self._reload_shipping_columns(order)
        return order

    # ------------------------------------------------------------------ invoices
    def render_invoice(self, invoice):
        invoicing.render_invoice(invoice.pk, where="request")  # the worker's code, in the request
        invoice.refresh_from_db(fields=["pdf", "version", "rendered_version"])
        return invoice

    # ------------------------------------------------------------------ shipping
    def dispatch(self, order):
        """Dispatch through the logistics context; the legacy columns follow the shipment.

        The shipment is created (idempotently, by order number) on the logistics database after
        the order's own transaction committed: no transaction spans the two databases. The
        columns follow each change of the shipment (its event, and its listener at once:
        monolithos.shipping_columns); copied here too for a shipment dispatched already (by the
        background sweep, after a deferral), so that this answer shows it without waiting.
        """
        shipment = self.logistics.create_shipment(placement.shipment_command(order))
        if shipment.status not in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED):
            outcome = self.logistics.dispatch(shipment.id)
            if not outcome.dispatched:
                if outcome.failure_kind in ("unreachable", "timeout"):
                    raise ConnectionError(outcome.failure_detail)
                raise SupplierError(
                    "supplier error: %s" % (outcome.failure_status or outcome.failure_kind)
                )
            shipment = outcome.shipment
        shipping_columns.apply(shipment)
        self._reload_shipping_columns(order)
        return order

    def _reload_shipping_columns(self, order):
        order.refresh_from_db(fields=shipping_columns.copied_fields())

    def ship_order(self, order):
        if order.status == "cancelled" or order.shipping_status == "cancelled":
            raise OrderError("order %s is cancelled" % order.number)
        shipping = shipping_data.read(
            order, reader="order_manager.ship_order", logistics=self.logistics
        )
        if shipping.shipping_status == "dispatched":
            raise OrderError("order %s is already shipped" % order.number)
        try:
            return self.dispatch(order)
        except IllegalTransition as refused:
            # The shipment's owner decided meanwhile (cancelled, or shipped by a worker): its
            # word is the answer, a 400, where it used to be a 502 "supplier unreachable".
            self._reload_shipping_columns(order)
            if refused.current is ShipmentStatus.CANCELLED:
                raise OrderError("order %s is cancelled" % order.number)
            raise OrderError("order %s is already shipped" % order.number)

    def track_order(self, order):
        """The order's shipping data (where the data phase says to read it: the columns, kept in
        step by the shipment's events, or the shipment) and the supplier's word.

        Reads only: the columns used to be repaired here, a write inside a GET (LEGACY.md).
        """
        shipping = shipping_data.read(
            order, reader="order_manager.track_order", logistics=self.logistics
        )
        try:
            tracking = self.logistics.track(order.number)
        except ShipmentNotFound:
            tracking = None  # an order from before the backfill
        return {
            "order": order.number,
            "status": order.status,
            "shipping_status": shipping.shipping_status,
            "tracking_number": shipping.tracking_number or None,
            "supplier_reference": shipping.supplier_reference or None,
            "dispatched_at": shipping.dispatched_at.isoformat() if shipping.dispatched_at else None,
            "supplier_status": (
                tracking.supplier_status if tracking else self._legacy_supplier_status(shipping)
            ),
        }

    def _legacy_supplier_status(self, shipping):
        if not shipping.supplier_reference:
            return None
        return self.logistics.supplier_status(shipping.supplier_reference)

    # ------------------------------------------------------------------ cancelling
    def cancel_order(self, order):
        """Cancel the order and its shipment, as one decision made by the shipment's owner.

        Under the order's lock, logistics is asked first: a shipment dispatched meanwhile (by a
        worker) refuses, and the order is refused with it before anything is committed. The
        shipment's cancel commits on its own database; should this transaction then fail, the
        order is left placed and a second cancel finishes it (cancelling a cancelled shipment
        is a no-op). An order from before the backfill has only its columns to go by.
        """
        with transaction.atomic():
            order = self.repo.lock_order(order.pk)
            if order.status == "cancelled":
                raise OrderError("order %s is already cancelled" % order.number)
            if order.status == "shipped":
                raise OrderError("order %s is shipped and cannot be cancelled" % order.number)
            try:
                self.logistics.cancel_order(order.number)
            except ShipmentNotFound:
                pass
            except IllegalTransition:
                raise OrderError("order %s is shipped and cannot be cancelled" % order.number)
            for line in order.lines.all():
                self.repo.release_stock(line.product_id, line.quantity)
            order.status = "cancelled"
            order.cancelled_at = timezone.now()
            # Not a full save: the shipment's listener wrote the other shipping columns (and
            # their version) in this transaction, where the data phase still writes them.
            fields = ["status", "cancelled_at"]
            if routers.shipping_columns_written():
                order.shipping_status = "cancelled"
                fields.append("shipping_status")
            order.save(update_fields=fields)
        self.notifications.send_cancellation(order)
        return order

    # ------------------------------------------------------------------ reports
    def sales_report(self, days=30):
        since = timezone.now() - datetime.timedelta(days=days)
        rows = {}
        for order in self.repo.orders_since(since):
            day = order.created_at.date().isoformat()
            row = rows.setdefault(day, {"day": day, "orders": 0, "units": 0, "revenue": 0})
            row["orders"] += 1
            row["revenue"] += order.total
            for line in order.lines.all():
                row["units"] += line.quantity
        return [rows[day] for day in sorted(rows)]

    def low_stock_report(self, threshold=None):
        threshold = self.LOW_STOCK_THRESHOLD if threshold is None else threshold
        report = []
        for product in self.repo.products_below(threshold):
            reorder = threshold * 2 - product.stock
            # One supplier call per row (LEGACY.md), through the resilient gateway: a stale
            # quote when the supplier is down, None when there is none to fall back to.
            quote = self.logistics.quote(product.sku, reorder)
            report.append({"product": product, "reorder_quantity": reorder, "quote": quote})
        return report
