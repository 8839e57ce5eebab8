# OrderManager: the heart of the legacy system. It does everything, in one class.
# Read monolithos/LEGACY.md before changing anything here: every smell is deliberate and
# pinned by tests/characterization/.
import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from monolithos.models import Customer, Invoice, Order, OrderLine, Product
from observability.metrics import order_placement
from observability.outbound import SupplierSession

# Every supplier call carries the trace id and is measured; it still has no timeout and no
# retry (LEGACY.md).
supplier_http = SupplierSession()


class OrderError(Exception):
    """Anything the caller did wrong. Views turn it into a 400."""


class SupplierError(Exception):
    """The supplier said no (or said nothing useful)."""


class OrderManager:
    TAX_RATE = Decimal("0.20")
    SHIPPING_FLAT = Decimal("4.95")
    FREE_SHIPPING_THRESHOLD = Decimal("100.00")
    BULK_QUANTITY = 10
    BULK_DISCOUNT = Decimal("0.05")
    DISCOUNT_CODES = {"WELCOME10": Decimal("0.10"), "SPRING5": Decimal("0.05")}
    LOW_STOCK_THRESHOLD = 10

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
            raise OrderError("unknown discount code: %s" % code)
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
            try:
                products[sku] = Product.objects.get(sku=sku)
            except Product.DoesNotExist:
                raise OrderError("unknown sku: %s" % sku)
        for sku, qty in merged.items():
            if products[sku].stock < qty:
                raise OrderError(
                    "insufficient stock for %s (requested %d, available %d)"
                    % (sku, qty, products[sku].stock)
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

    @staticmethod
    def format_money(value):
        return "EUR %s" % Decimal(value).quantize(Decimal("0.01"))

    # ------------------------------------------------------------------ placing
    @order_placement("legacy", rejected=(OrderError,))
    def place_order(self, data):
        clean = self.validate(data)
        prices = self.price(clean["lines"], clean["discount_code"])
        with transaction.atomic():
            # Stock is taken with a conditional UPDATE, so two requests racing for the last
            # unit cannot both win; any failure rolls back everything below.
            for product, qty in clean["lines"]:
                taken = Product.objects.filter(pk=product.pk, stock__gte=qty).update(
                    stock=F("stock") - qty
                )
                if not taken:
                    raise OrderError("insufficient stock for %s" % product.sku)
            customer, _ = Customer.objects.get_or_create(
                email=clean["email"], defaults={"name": clean["name"]}
            )
            order = Order.objects.create(
                customer=customer,
                discount_code=clean["discount_code"],
                shipping_name=clean["name"],
                shipping_address=clean["address"],
                **prices,
            )
            order.number = "ORD-%06d" % order.pk
            order.save()
            for product, qty in clean["lines"]:
                OrderLine.objects.create(
                    order=order,
                    product=product,
                    sku=product.sku,
                    quantity=qty,
                    unit_price=product.price,
                    line_total=self.line_total(product.price, qty),
                )
            invoice = Invoice.objects.create(
                order=order, number="INV-%06d" % order.pk, amount=prices["total"]
            )
        # Everything below happens inside the HTTP request, one slow step after another.
        self.render_invoice(invoice)
        self.send_confirmation(order)
        try:
            self.dispatch(order)
        except Exception:
            # The order is placed whatever the supplier says; staff retry with "ship".
            order.shipping_status = "dispatch_failed"
            order.save()
        return order

    # ------------------------------------------------------------------ invoices
    def render_invoice(self, invoice):
        from monolithos.invoicing import render_invoice_pdf  # circular: see LEGACY.md

        pdf = render_invoice_pdf(invoice)
        invoice.pdf.save("%s.pdf" % invoice.number, ContentFile(pdf), save=True)
        return invoice

    # ------------------------------------------------------------------ email
    def send_confirmation(self, order):
        lines = "\n".join(
            "  %d x %s  %s" % (line.quantity, line.sku, self.format_money(line.line_total))
            for line in order.lines.all()
        )
        send_mail(
            "Your order %s" % order.number,
            "Hello %s,\n\nthank you for your order %s.\n\n%s\n\nTotal: %s\n"
            % (order.shipping_name, order.number, lines, self.format_money(order.total)),
            settings.DEFAULT_FROM_EMAIL,
            [order.customer.email],
        )

    def send_cancellation(self, order):
        send_mail(
            "Your order %s has been cancelled" % order.number,
            "Hello %s,\n\nyour order %s has been cancelled.\n"
            % (order.shipping_name, order.number),
            settings.DEFAULT_FROM_EMAIL,
            [order.customer.email],
        )

    # ------------------------------------------------------------------ supplier
    def dispatch(self, order):
        payload = {
            "order_ref": order.number,
            "destination": order.shipping_address,
            "items": [{"sku": l.sku, "quantity": l.quantity} for l in order.lines.all()],
        }
        # No timeout, no retry, no idempotency key: a hanging supplier hangs the request.
        response = supplier_http.post(
            settings.SUPPLIER_API_URL + "/v1/dispatches", json=payload, operation="dispatch"
        )
        if response.status_code not in (200, 201):
            raise SupplierError("supplier error: %s" % response.status_code)
        body = response.json()
        order.supplier_reference = body["supplier_reference"]
        order.tracking_number = body["tracking_number"]
        order.shipping_status = "dispatched"
        order.dispatched_at = timezone.now()
        order.status = "shipped"
        order.save()
        return order

    def ship_order(self, order):
        if order.status == "cancelled":
            raise OrderError("order %s is cancelled" % order.number)
        if order.shipping_status == "dispatched":
            raise OrderError("order %s is already shipped" % order.number)
        return self.dispatch(order)

    def track_order(self, order):
        result = {
            "order": order.number,
            "status": order.status,
            "shipping_status": order.shipping_status,
            "tracking_number": order.tracking_number or None,
            "supplier_reference": order.supplier_reference or None,
            "dispatched_at": order.dispatched_at.isoformat() if order.dispatched_at else None,
            "supplier_status": None,
        }
        if order.supplier_reference:
            try:
                r = supplier_http.get(
                    settings.SUPPLIER_API_URL + "/v1/dispatches/" + order.supplier_reference,
                    operation="track",
                )
                if r.status_code == 200:
                    result["supplier_status"] = r.json()["status"]
                else:
                    result["supplier_status"] = "unknown"
            except:
                result["supplier_status"] = "unknown"
        return result

    # ------------------------------------------------------------------ cancelling
    def cancel_order(self, order):
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            if order.status == "cancelled":
                raise OrderError("order %s is already cancelled" % order.number)
            if order.status == "shipped":
                raise OrderError("order %s is shipped and cannot be cancelled" % order.number)
            for line in order.lines.all():
                Product.objects.filter(pk=line.product_id).update(stock=F("stock") + line.quantity)
            order.status = "cancelled"
            order.shipping_status = "cancelled"
            order.cancelled_at = timezone.now()
            order.save()
        self.send_cancellation(order)
        return order

    # ------------------------------------------------------------------ reports
    def sales_report(self, days=30):
        since = timezone.now() - datetime.timedelta(days=days)
        rows = {}
        for order in Order.objects.filter(created_at__gte=since).exclude(status="cancelled"):
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
        for product in Product.objects.filter(stock__lt=threshold).order_by("sku"):
            reorder = threshold * 2 - product.stock
            quote = None
            try:
                r = supplier_http.get(
                    settings.SUPPLIER_API_URL + "/v1/quotes",
                    params={"sku": product.sku, "quantity": reorder},
                    operation="quote",
                )
                if r.status_code == 200:
                    quote = r.json()
            except:
                pass
            report.append({"product": product, "reorder_quantity": reorder, "quote": quote})
        return report
