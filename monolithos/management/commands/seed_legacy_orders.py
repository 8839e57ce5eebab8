"""``manage.py seed_legacy_orders``: many legacy orders, fast, for the shipment backfill benchmark.

Rows are written with ``bulk_create`` (no ``save()``, no signals, so no mail) in chunks, each
chunk one transaction: insert the orders, then give them their numbers from their primary keys
in one UPDATE (``ORD-%06d``, the numbering the live code uses, hence unique across runs), then
insert their lines. Shipping states are drawn from ``--seed``: about 60% dispatched,
20% dispatch_failed, 10% pending and 10% cancelled.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router, transaction
from django.db.models import Case, CharField, Q, Value, When
from django.db.models.functions import Cast, Concat, LPad
from django.utils import timezone

from config import routers
from monolithos.models import Customer, Order, OrderLine, Product

CUSTOMER_COUNT = 100
CHUNK_SIZE = 900  # orders per transaction; also the pk__in list of the numbering UPDATE
STATE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("dispatched", 0.6),
    ("dispatch_failed", 0.2),
    ("pending", 0.1),
    ("cancelled", 0.1),
)
ORDER_STATUS = {"dispatched": "shipped", "cancelled": "cancelled"}  # otherwise "placed"


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _with_pk(prefix: str) -> Concat:
    """``prefix`` + the row's pk on at least 6 digits ("%06d": LPAD alone would truncate)."""
    pk = Cast("pk", CharField())
    padded = Case(When(pk__lt=1_000_000, then=LPad(pk, 6, Value("0"))), default=pk)
    return Concat(Value(prefix), padded, output_field=CharField())


def draw_state(rng: random.Random) -> str:
    roll = rng.random()
    for state, weight in STATE_WEIGHTS:
        if roll < weight:
            return state
        roll -= weight
    return STATE_WEIGHTS[-1][0]


class Command(BaseCommand):
    help = (
        "Create --count legacy orders (1-3 lines each, ~100 reused customers, existing products "
        "or 10 new ones) with a seeded mix of shipping states, using bulk inserts: no signals, "
        "no mail. Not idempotent: every run adds --count more orders, numbered after the "
        "existing ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=_positive, default=10_000, help="default 10000")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        count = int(options["count"])
        if count < 1:
            raise CommandError("--count must be at least 1", returncode=2)
        if not routers.shipping_columns_written():
            raise CommandError(
                "the order's shipping columns are no longer written (data phase contract): "
                "nothing to write legacy orders into",
                returncode=1,
            )
        rng = random.Random(int(options["seed"]))  # noqa: S311 (test data, not secrets)
        alias = router.db_for_write(Order)
        customers = self.customers(alias)
        products = self.products(alias)
        now = timezone.now()
        states: Counter[str] = Counter()
        first: int | None = None
        last: int | None = None
        for start in range(0, count, CHUNK_SIZE):
            with transaction.atomic(using=alias):
                orders = self.create_chunk(
                    alias, min(CHUNK_SIZE, count - start), rng, customers, products, now
                )
            states.update(order.shipping_status for order in orders)
            first = orders[0].pk if first is None else first
            last = orders[-1].pk
        mix = ", ".join(f"{states[state]} {state}" for state, _ in STATE_WEIGHTS)
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_legacy_orders: {count} orders created "
                f"(ORD-{first:06d}..ORD-{last:06d}): {mix}"
            )
        )

    def customers(self, alias: str) -> list[Customer]:
        emails = [f"legacy-seed-{n:03d}@customers.example" for n in range(CUSTOMER_COUNT)]
        manager = Customer.objects.using(alias)
        existing = set(manager.filter(email__in=emails).values_list("email", flat=True))
        manager.bulk_create(
            [
                Customer(name=f"Legacy Customer {n:03d}", email=email)
                for n, email in enumerate(emails)
                if email not in existing
            ],
            ignore_conflicts=True,
        )
        return list(manager.filter(email__in=emails).order_by("email"))

    def products(self, alias: str) -> list[Product]:
        manager = Product.objects.using(alias)
        products = list(manager.order_by("pk")[:100])
        if not products:
            manager.bulk_create(
                Product(
                    sku=f"LEG-{n:02d}",
                    name=f"Legacy product {n:02d}",
                    price=Decimal(5 + n),
                    stock=0,
                )
                for n in range(1, 11)
            )
            products = list(manager.order_by("pk"))
        return products

    def create_chunk(
        self,
        alias: str,
        size: int,
        rng: random.Random,
        customers: Sequence[Customer],
        products: Sequence[Product],
        now: datetime,
    ) -> list[Order]:
        orders: list[Order] = []
        order_lines: list[list[tuple[Product, int]]] = []
        for _ in range(size):
            state = draw_state(rng)
            customer = rng.choice(customers)
            # Drawn with replacement: now and then an order repeats a SKU on two lines.
            lines = [(rng.choice(products), rng.randint(1, 5)) for _ in range(rng.randint(1, 3))]
            subtotal = sum((product.price * quantity for product, quantity in lines), Decimal(0))
            orders.append(
                Order(
                    customer=customer,
                    status=ORDER_STATUS.get(state, "placed"),
                    shipping_status=state,
                    subtotal=subtotal,
                    total=subtotal,
                    shipping_name=customer.name,
                    shipping_address=f"{rng.randint(1, 999)} Legacy Street\n"
                    f"{rng.randint(10000, 99999)} Seedville",
                    dispatched_at=now if state == "dispatched" else None,
                    cancelled_at=now if state == "cancelled" else None,
                )
            )
            order_lines.append(lines)
        Order.objects.using(alias).bulk_create(orders)
        if any(order.pk is None for order in orders):
            raise CommandError("this database does not return primary keys from bulk inserts")
        # One UPDATE for the chunk, computed by the database from each row's pk (much faster
        # than bulk_update's CASE per row): number ORD-%06d, and for dispatched orders
        # SUP-LEG-%06d / TRKLEG%06d.
        pks = [order.pk for order in orders]
        dispatched = Q(shipping_status="dispatched")
        Order.objects.using(alias).filter(pk__in=pks).update(
            number=_with_pk("ORD-"),
            supplier_reference=Case(When(dispatched, then=_with_pk("SUP-LEG-")), default=Value("")),
            tracking_number=Case(When(dispatched, then=_with_pk("TRKLEG")), default=Value("")),
        )
        for order in orders:
            order.number = "ORD-%06d" % order.pk
            if order.shipping_status == "dispatched":
                order.supplier_reference = "SUP-LEG-%06d" % order.pk
                order.tracking_number = "TRKLEG%06d" % order.pk
        OrderLine.objects.using(alias).bulk_create(
            OrderLine(
                order=order,
                product=product,
                sku=product.sku,
                quantity=quantity,
                unit_price=product.price,
                line_total=product.price * quantity,
            )
            for order, lines in zip(orders, order_lines, strict=True)
            for product, quantity in lines
        )
        return orders
