"""Order placement: the one input contract, pricing, recording and acceptance of an order.

This is the new code the god object delegates to ("wrap it, interface it, then replace the
guts", docs/adr/0014): ``OrderManager.place_order`` (the legacy, synchronous path) calls
``validate``, ``price``, ``record`` and ``take_stock`` and keeps doing the slow steps in the
request; the intake worker calls ``accept`` (the asynchronous path), and the v1 API calls
``validate`` and ``check_customer``. This module must not import ``monolithos.order_manager``
(an import-linter contract): the new entry points stand on it alone.

The limits are one set, derived from what a shipment accepts (``logistics.public.
SHIPMENT_LIMITS``), so an order that passes here can always be shipped; the v1 serializer
reads the same ``LIMITS``. Messages are the legacy validator's (the characterization suite pins
them), each with the field it is about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import prefetch_related_objects

from httpapi.text import text_problem
from logistics.public import (
    CREATE_SHIPMENT_TASK,
    SHIPMENT_LIMITS,
    CreateShipment,
    ItemIn,
)
from monolithos import pricing
from monolithos.models import Customer, Invoice, Order, OrderLine, Product
from observability.metrics import order_placement
from outbox.messages import Message, publish

RENDER_INVOICE_TASK = "monolithos.tasks.render_invoice"


class OrderError(Exception):
    """Anything the caller did wrong. Views turn it into a 400 (the API names the field)."""

    def __init__(self, message: str, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class OrderLimits:
    """The largest order accepted, by every entry point alike."""

    max_name_length: int = 200  # Customer.name and Order.shipping_name
    max_email_length: int = SHIPMENT_LIMITS.max_email_length
    max_address_length: int = SHIPMENT_LIMITS.max_destination_length
    max_discount_code_length: int = 32  # Order.discount_code
    max_sku_length: int = SHIPMENT_LIMITS.max_sku_length
    max_lines: int = SHIPMENT_LIMITS.max_items
    max_quantity: int = SHIPMENT_LIMITS.max_quantity


LIMITS = OrderLimits()


@dataclass(frozen=True)
class CleanOrder:
    """A validated order: normalized contact data and one line per SKU, products loaded."""

    email: str
    name: str
    address: str
    discount_code: str
    lines: tuple[tuple[Product, int], ...]


class CatalogueReader(Protocol):
    """What checking an order needs: its products (``monolithos.catalogue`` keeps a copy)."""

    def product_by_sku(self, sku: str) -> Product | None: ...


class PlacementRepository(CatalogueReader, Protocol):
    """What placement needs from the database (``monolithos.repository.DatabaseRepo``)."""

    def take_stock(self, product: Product, quantity: int) -> bool: ...

    def customer_for(self, email: str, name: str) -> Customer: ...

    def create_order(self, **fields: Any) -> Order: ...

    def create_line(self, **fields: Any) -> OrderLine: ...

    def create_invoice(self, **fields: Any) -> Invoice: ...


class OrderMails(Protocol):
    """The mails an accepted order sends (``monolithos.mailer.NotificationService``)."""

    def notify_sales_team(self, order: Order) -> None: ...

    def send_confirmation(self, order: Order) -> None: ...


# ---------------------------------------------------------------------- the input contract


def _text(data: Mapping[str, Any], field: str, limit: int, *, multi_line: bool = False) -> str:
    value = data.get(field)
    if not value or not isinstance(value, str) or not value.strip():
        raise OrderError(f"{field} is required", field)
    if len(value) > limit:
        raise OrderError(f"{field} is too long (at most {limit} characters)", field)
    # NUL, control characters, lone surrogates: the same rule as the API's fields.
    problem = text_problem(value.strip(), multi_line=multi_line)
    if problem is not None:
        raise OrderError(f"{field} {problem}", field)
    return value.strip()


def _email(data: Mapping[str, Any]) -> str:
    email = data.get("customer_email")
    if not email or not isinstance(email, str):
        raise OrderError("customer_email is required", "customer_email")
    if len(email) > LIMITS.max_email_length:
        raise OrderError(
            f"customer_email is too long (at most {LIMITS.max_email_length} characters)",
            "customer_email",
        )
    problem = text_problem(email)
    if problem is not None:
        raise OrderError(f"customer_email {problem}", "customer_email")
    try:
        validate_email(email)
    except ValidationError:
        raise OrderError("customer_email is not a valid email address", "customer_email") from None
    return email.strip().lower()


def _discount_code(data: Mapping[str, Any]) -> str:
    code = data.get("discount_code") or ""
    if not isinstance(code, str):
        raise OrderError("discount_code must be a string", "discount_code")
    if len(code) > LIMITS.max_discount_code_length:
        raise OrderError(
            f"discount_code is too long (at most {LIMITS.max_discount_code_length} characters)",
            "discount_code",
        )
    if code and code.upper() not in pricing.DISCOUNT_CODES:
        raise OrderError(f"unknown discount code: {code}", "discount_code")
    return code.upper()


def _merged_lines(data: Mapping[str, Any]) -> dict[str, int]:
    lines = data.get("lines")
    if not lines or not isinstance(lines, list):
        raise OrderError("lines must be a non-empty list", "lines")
    if len(lines) > LIMITS.max_lines:
        raise OrderError(f"an order has at most {LIMITS.max_lines} lines", "lines")
    merged: dict[str, int] = {}
    for line in lines:
        if not isinstance(line, dict):
            raise OrderError("each line needs a sku and a quantity", "lines")
        sku, quantity = line.get("sku"), line.get("quantity")
        if not sku or not isinstance(sku, str):
            raise OrderError("each line needs a sku and a quantity", "lines")
        if len(sku) > LIMITS.max_sku_length or text_problem(sku) is not None:
            raise OrderError(f"unknown sku: {sku[: LIMITS.max_sku_length]}", "lines")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise OrderError(f"invalid quantity for {sku}", "lines")
        # The same SKU twice used to pass the stock check line by line and oversell;
        # quantities are merged before anything is checked (LEGACY.md, fixed bugs).
        merged[sku] = merged.get(sku, 0) + quantity
        if merged[sku] > LIMITS.max_quantity:
            raise OrderError(f"invalid quantity for {sku} (at most {LIMITS.max_quantity})", "lines")
    return merged


def validate(data: object, *, repo: CatalogueReader) -> CleanOrder:
    """Check an order against the contract and the catalogue (stock read without a lock).

    Raises OrderError naming the first field that is wrong; writes nothing.
    """
    if not isinstance(data, dict):
        raise OrderError("request body must be a JSON object")
    email = _email(data)
    name = _text(data, "customer_name", LIMITS.max_name_length)
    address = _text(data, "shipping_address", LIMITS.max_address_length, multi_line=True)
    code = _discount_code(data)
    merged = _merged_lines(data)
    products: dict[str, Product] = {}
    for sku in merged:
        product = repo.product_by_sku(sku)
        if product is None:
            raise OrderError(f"unknown sku: {sku}", "lines")
        products[sku] = product
    for sku, quantity in merged.items():
        if products[sku].stock < quantity:
            raise OrderError(
                "insufficient stock for %s (requested %d, available %d)"
                % (sku, quantity, products[sku].stock),
                "lines",
            )
    return CleanOrder(
        email=email,
        name=name,
        address=address,
        discount_code=code,
        lines=tuple((products[sku], quantity) for sku, quantity in merged.items()),
    )


def check_customer(*, customer_email: str, caller_email: str, for_anyone: bool) -> None:
    """A caller orders for its own account unless it may order for anyone (staff, permission).

    The order's owner is always the caller; the customer's email is contact data, so a caller
    may not make it someone else's without being allowed to.
    """
    if for_anyone:
        return
    if not caller_email or customer_email.strip().lower() != caller_email.strip().lower():
        raise OrderError(
            "customer_email must be your account's email address "
            "(placing orders for other customers needs a permission)",
            "customer_email",
        )


# ---------------------------------------------------------------------- pricing


def money(value: Decimal | int) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def line_total(unit_price: Decimal, quantity: int) -> Decimal:
    total = unit_price * quantity
    if quantity >= pricing.BULK_QUANTITY:
        total = total * (1 - pricing.BULK_DISCOUNT)
    return money(total)


def price(lines: Sequence[tuple[Product, int]], discount_code: str = "") -> dict[str, Decimal]:
    """Subtotal (bulk discounts per line), discount code, tax, shipping and total."""
    subtotal = money(sum((line_total(product.price, qty) for product, qty in lines), Decimal(0)))
    rate = pricing.DISCOUNT_CODES.get(discount_code, Decimal("0"))
    discount = money(subtotal * rate)
    taxable = subtotal - discount
    free = taxable >= pricing.FREE_SHIPPING_THRESHOLD
    shipping = Decimal("0.00") if free else pricing.SHIPPING_FLAT
    tax = money(taxable * pricing.TAX_RATE)
    return {
        "subtotal": subtotal,
        "discount": discount,
        "shipping_cost": shipping,
        "tax": tax,
        "total": money(taxable + tax + shipping),
    }


# ---------------------------------------------------------------------- recording


def record(
    clean: CleanOrder,
    prices: Mapping[str, Decimal],
    *,
    repo: PlacementRepository,
    owner_id: int | None,
) -> tuple[Order, Invoice]:
    """Order, lines and invoice; the caller holds the transaction and then takes the stock.

    ``owner_id`` is the caller who placed it; None on the unauthenticated shop path, where the
    customer's own user (if any) owns it, as the shop always behaved.
    """
    customer = repo.customer_for(clean.email, clean.name)
    order = repo.create_order(
        customer=customer,
        owner_id=owner_id if owner_id is not None else customer.user_id,
        discount_code=clean.discount_code,
        shipping_name=clean.name,
        shipping_address=clean.address,
        **prices,
    )
    order.number = "ORD-%06d" % order.pk
    order.save(update_fields=["number"])
    for product, quantity in clean.lines:
        repo.create_line(
            order=order,
            product=product,
            sku=product.sku,
            quantity=quantity,
            unit_price=product.price,
            line_total=line_total(product.price, quantity),
        )
    invoice = repo.create_invoice(order=order, number="INV-%06d" % order.pk, amount=prices["total"])
    # Read once here; the mails, the shipment and the response all list the lines.
    prefetch_related_objects([order], "lines")
    return order, invoice


def take_stock(clean: CleanOrder, *, repo: PlacementRepository) -> None:
    """Take each line's quantity; the caller holds the transaction and calls this last.

    A conditional UPDATE, so two requests racing for the last unit cannot both win (the
    loser's order rolls back). Last, because the row lock it takes is held until the commit
    and every order for the same product queues behind it: taken first, a herd on one
    product would wait on every other statement of every order.
    """
    for product, quantity in clean.lines:
        if not repo.take_stock(product, quantity):
            raise OrderError(f"insufficient stock for {product.sku}", "lines")


def shipment_command(order: Order) -> CreateShipment:
    """The order's shipment as the logistics context takes it: owned by the order's owner."""
    return CreateShipment(
        order_ref=str(order.number),
        destination=order.shipping_address,
        items=[ItemIn(sku=line.sku, quantity=line.quantity) for line in order.lines.all()],
        owner_id=order.owner_id,
        contact_email=order.customer.email,
    )


# ---------------------------------------------------------------------- acceptance


@order_placement("new", rejected=(OrderError,))
def accept(
    data: object, *, owner_id: int | None, repo: PlacementRepository, mails: OrderMails
) -> Order:
    """The asynchronous path: record the order and hand the slow steps to the workers.

    ``owner_id`` is the caller (the v1 intake); None for a legacy client, which is no user: the
    order is then owned as the shop path owns it (``record``).

    The order, its lines, its invoice, the outbox messages for its shipment and its invoice
    PDF, and its two mails are written in one transaction, so either all of it is handed off
    or none. Nothing slow runs here: the workers create and dispatch the shipment, render the
    PDF and send the mails.
    """
    clean = validate(data, repo=repo)
    prices = price(clean.lines, clean.discount_code)
    # Inside the caller's transaction without a savepoint (the intake records the request's
    # outcome in the same one); a failure here rolls the whole of it back.
    with transaction.atomic(savepoint=False):
        order, invoice = record(clean, prices, repo=repo, owner_id=owner_id)
        publish(
            Message(
                task=CREATE_SHIPMENT_TASK,
                key=f"shipment:{order.number}",
                kwargs={"shipment": shipment_command(order).model_dump(mode="json")},
            ),
            Message(
                task=RENDER_INVOICE_TASK,
                key=f"invoice:{invoice.number}:v{invoice.version}",
                kwargs={"invoice_id": invoice.pk},
            ),
        )
        mails.notify_sales_team(order)
        mails.send_confirmation(order)
        take_stock(clean, repo=repo)
    return order
