# OrderManager: the heart of the legacy system. It does everything, in one class.
# Read monolithos/LEGACY.md before changing anything here: every smell is deliberate and
# pinned by tests/characterization/.
import datetime
from decimal import ROUND_HALF_UP, Decimal

import structlog
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from logistics.public import (
    CREATE_SHIPMENT_TASK,
    CreateShipment,
    ItemIn,
    LogisticsService,
    ShipmentNotFound,
    ShipmentStatus,
    build_logistics_service,
)
from monolithos import invoicing, pricing
from monolithos.mailer import NotificationService
from monolithos.repository import DatabaseRepo
from observability.metrics import order_placement
from outbox.messages import Message, publish

logger = structlog.get_logger(__name__)


class OrderError(Exception):
    """Anything the caller did wrong. Views turn it into a 400 (the API names the field)."""

    def __init__(self, message, field="non_field_errors"):
        super().__init__(message)
        self.field = field


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
    def validate(self, data):
        if not isinstance(data, dict):
            raise OrderError("request body must be a JSON object")
        email = data.get("customer_email")
        if not email or not isinstance(email, str):
            raise OrderError("customer_email is required")
        try:
            validate_email(email)
        except ValidationError:
            raise OrderError("customer_email is not a valid email address")
        name = data.get("customer_name")
        if not name or not isinstance(name, str) or not name.strip():
            raise OrderError("customer_name is required")
        address = data.get("shipping_address")
        if not address or not isinstance(address, str) or not address.strip():
            raise OrderError("shipping_address is required")
        code = data.get("discount_code") or ""
        if not isinstance(code, str):
            raise OrderError("discount_code must be a string")
        if code and code.upper() not in self.DISCOUNT_CODES:
            raise OrderError("unknown discount code: %s" % code, "discount_code")
        lines = data.get("lines")
        if not lines or not isinstance(lines, list):
            raise OrderError("lines must be a non-empty list")
        merged = {}
        for line in lines:
            if not isinstance(line, dict):
                raise OrderError("each line needs a sku and a quantity")
            sku = line.get("sku")
            qty = line.get("quantity")
            if not sku or not isinstance(sku, str):
                raise OrderError("each line needs a sku and a quantity")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
                raise OrderError("invalid quantity for %s" % sku)
            # The same SKU twice used to pass the stock check line by line and oversell;
            # quantities are merged before anything is checked (LEGACY.md, fixed bugs).
            merged[sku] = merged.get(sku, 0) + qty
        products = {}
        for sku in merged:
            products[sku] = self.repo.product_by_sku(sku)
            if products[sku] is None:
                raise OrderError("unknown sku: %s" % sku, "lines")
        for sku, qty in merged.items():
            if products[sku].stock < qty:
                raise OrderError(
                    "insufficient stock for %s (requested %d, available %d)"
                    % (sku, qty, products[sku].stock),
                    "lines",
                )
        return {
            "email": email.strip().lower(),
            "name": name.strip(),
            "address": address.strip(),
            "discount_code": code.upper(),
            "lines": [(products[sku], qty) for sku, qty in merged.items()],
        }

    # ------------------------------------------------------------------ pricing
    def money(self, value):
        return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def line_total(self, unit_price, quantity):
        total = unit_price * quantity
        if quantity >= self.BULK_QUANTITY:
            total = total * (1 - self.BULK_DISCOUNT)
        return self.money(total)

    def price(self, lines, discount_code=""):
        subtotal = Decimal("0.00")
        for product, qty in lines:
            subtotal += self.line_total(product.price, qty)
        subtotal = self.money(subtotal)
        rate = self.DISCOUNT_CODES.get(discount_code, Decimal("0"))
        discount = self.money(subtotal * rate)
        taxable = subtotal - discount
        if taxable >= self.FREE_SHIPPING_THRESHOLD:
            shipping = Decimal("0.00")
        else:
            shipping = self.SHIPPING_FLAT
        tax = self.money(taxable * self.TAX_RATE)
        total = self.money(taxable + tax + shipping)
        return {
            "subtotal": subtotal,
            "discount": discount,
            "shipping_cost": shipping,
            "tax": tax,
            "total": total,
        }

    format_money = staticmethod(pricing.format_money)

    # ------------------------------------------------------------------ placing
    @order_placement("legacy", rejected=(OrderError,))
    def place_order(self, data):
        """The legacy path: everything inside the request, one slow step after another."""
        clean = self.validate(data)
        prices = self.price(clean["lines"], clean["discount_code"])
        with transaction.atomic():
            order, invoice = self._record_order(clean, prices)
            self._take_stock(clean)
        self.notifications.notify_sales_team(order)
        self.render_invoice(invoice)
        self.notifications.send_confirmation(order)
        try:
            self.dispatch(order)
        except Exception:
            # The order is placed whatever the supplier says: its shipment stays pending and the
            # sweep dispatches it later (staff may still press "ship").
            logger.warning("dispatch_deferred", order=order.number, exc_info=True)
            order.shipping_status = "dispatch_failed"
            order.save()
        return order

    @order_placement("new", rejected=(OrderError,))
    def accept_order(self, data):
        """The asynchronous path: record the order and hand the slow steps to the workers.

        The order, its lines, its invoice, the outbox messages for its shipment and its invoice
        PDF, and its two mails are written in one transaction, so either all of it is handed off
        or none. Nothing slow runs here: the workers
        create and dispatch the shipment, render the PDF and send the mails.
        """
        clean = self.validate(data)
        prices = self.price(clean["lines"], clean["discount_code"])
        # Inside the caller's transaction without a savepoint (the API records its
        # Idempotency-Key answer in the same one); a failure here rolls the whole of it back.
        with transaction.atomic(savepoint=False):
            order, invoice = self._record_order(clean, prices)
            publish(
                Message(
                    task=CREATE_SHIPMENT_TASK,
                    key="shipment:%s" % order.number,
                    kwargs={"shipment": self._shipment_command(order).model_dump(mode="json")},
                ),
                Message(
                    task="monolithos.tasks.render_invoice",
                    key="invoice:%s:v%d" % (invoice.number, invoice.version),
                    kwargs={"invoice_id": invoice.pk},
                ),
            )
            self.notifications.notify_sales_team(order)
            self.notifications.send_confirmation(order)
            self._take_stock(clean)
        return order

    def _take_stock(self, clean):
        """Take each line's quantity; the caller holds the transaction and calls this last.

        A conditional UPDATE, so two requests racing for the last unit cannot both win (the
        loser's order rolls back). Last, because the row lock it takes is held until the commit
        and every order for the same product queues behind it: taken first, a herd on one
        product would wait on every other statement of every order.
        """
        for product, qty in clean["lines"]:
            if not self.repo.take_stock(product, qty):
                raise OrderError("insufficient stock for %s" % product.sku, "lines")

    def _record_order(self, clean, prices):
        """Order, lines and invoice; the caller holds the transaction and then takes the stock."""
        customer = self.repo.customer_for(clean["email"], clean["name"])
        order = self.repo.create_order(
            customer=customer,
            discount_code=clean["discount_code"],
            shipping_name=clean["name"],
            shipping_address=clean["address"],
            **prices,
        )
        order.number = "ORD-%06d" % order.pk
        order.save(update_fields=["number"])
        for product, qty in clean["lines"]:
            self.repo.create_line(
                order=order,
                product=product,
                sku=product.sku,
                quantity=qty,
                unit_price=product.price,
                line_total=self.line_total(product.price, qty),
            )
        invoice = self.repo.create_invoice(
            order=order, number="INV-%06d" % order.pk, amount=prices["total"]
        )
        # Read once here; the mails, the shipment and the response all list the lines.
        prefetch_related_objects([order], "lines")
        return order, invoice

    # ------------------------------------------------------------------ invoices
    def render_invoice(self, invoice):
        invoicing.render_invoice(invoice.pk, where="request")  # the worker's code, in the request
        invoice.refresh_from_db(fields=["pdf", "version", "rendered_version"])
        return invoice

    # ------------------------------------------------------------------ shipping
    def dispatch(self, order):
        """Dispatch through the logistics context, then dual-write the legacy shipping columns.

        The shipment is created (idempotently, by order number) on the logistics database after
        the order's own transaction committed: no transaction spans the two databases.
        """
        shipment = self.logistics.create_shipment(self._shipment_command(order))
        if shipment.status != ShipmentStatus.DISPATCHED:
            # Already dispatched (by the background sweep, after a deferral): nothing to send,
            # only the legacy columns to bring in step.
            outcome = self.logistics.dispatch(shipment.id)
            if not outcome.dispatched:
                if outcome.failure_kind in ("unreachable", "timeout"):
                    raise ConnectionError(outcome.failure_detail)
                raise SupplierError(
                    "supplier error: %s" % (outcome.failure_status or outcome.failure_kind)
                )
            shipment = outcome.shipment
        self._copy_shipping_columns(order, shipment)
        return order

    def _shipment_command(self, order):
        return CreateShipment(
            order_ref=order.number,
            destination=order.shipping_address,
            items=[ItemIn(sku=l.sku, quantity=l.quantity) for l in order.lines.all()],
            owner_id=order.customer.user_id,
            contact_email=order.customer.email,
        )

    def _copy_shipping_columns(self, order, shipment):
        """Dual-write: the legacy columns follow the shipment while legacy views read them."""
        order.supplier_reference = shipment.supplier_reference
        order.tracking_number = shipment.tracking_number
        order.shipping_status = "dispatched"
        order.dispatched_at = shipment.dispatched_at
        order.status = "shipped"
        order.save()

    def ship_order(self, order):
        if order.status == "cancelled":
            raise OrderError("order %s is cancelled" % order.number)
        if order.shipping_status == "dispatched":
            raise OrderError("order %s is already shipped" % order.number)
        return self.dispatch(order)

    def track_order(self, order):
        try:
            tracking = self.logistics.track(order.number)
        except ShipmentNotFound:
            tracking = None  # an order from before the backfill
        if (
            tracking is not None
            and tracking.status == ShipmentStatus.DISPATCHED
            and order.shipping_status != "dispatched"
        ):
            # Dispatched by the background sweep after a deferral: repair the legacy columns.
            self._copy_shipping_columns(order, tracking)
        return {
            "order": order.number,
            "status": order.status,
            "shipping_status": order.shipping_status,
            "tracking_number": order.tracking_number or None,
            "supplier_reference": order.supplier_reference or None,
            "dispatched_at": order.dispatched_at.isoformat() if order.dispatched_at else None,
            "supplier_status": (
                tracking.supplier_status if tracking else self._legacy_supplier_status(order)
            ),
        }

    def _legacy_supplier_status(self, order):
        if not order.supplier_reference:
            return None
        return self.logistics.supplier_status(order.supplier_reference)

    # ------------------------------------------------------------------ cancelling
    def cancel_order(self, order):
        with transaction.atomic():
            order = self.repo.lock_order(order.pk)
            if order.status == "cancelled":
                raise OrderError("order %s is already cancelled" % order.number)
            if order.status == "shipped":
                raise OrderError("order %s is shipped and cannot be cancelled" % order.number)
            for line in order.lines.all():
                self.repo.release_stock(line.product_id, line.quantity)
            order.status = "cancelled"
            order.shipping_status = "cancelled"
            order.cancelled_at = timezone.now()
            order.save()
        try:
            self.logistics.cancel_order(order.number)
        except ShipmentNotFound:
            pass  # an order from before the backfill: the legacy columns are all there is
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
