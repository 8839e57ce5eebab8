"""OrderManager on in-memory fakes, sealed off from the database and the network.

The god object is built with fakes for all three collaborators its constructor takes: the
repository (``tests.unit.order_manager.fakes``), the notifier (the legacy mailer over a fake
notifications port) and the logistics service (``LogisticsService`` on the logistics fakes).
Each of its operations then runs inside ``sealed()``: opening a database connection or a socket
is refused there, and recorded with the line of the project's code that tried. An operation
that ends without such a reach ran on the injected fakes alone; one that reached shows where
the class still goes to the infrastructure by itself. Needs Django set up (settings only: no
database is ever opened).
"""

from __future__ import annotations

import datetime
import inspect
import socket
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from logistics.public import LogisticsService
from monolithos.mailer import NotificationService
from monolithos.order_manager import OrderManager
from monolithos.placement import shipment_command
from strangler.testing import override_modes
from tests.unit.logistics.fakes import (
    FakeNotifier,
    FakeShipmentRepository,
    FakeSupplier,
    FixedClock,
)
from tests.unit.order_manager.fakes import NOW, FakeOrderRepository

ROOT = Path(__file__).resolve().parents[2]
# Frames of these directories are the caller's, not the code under measurement.
_NOT_MEASURED = ("bench", "tests")


class Reached(Exception):
    """Raised where sealed code opened a database connection or a socket."""

    def __init__(self, reach: Reach) -> None:
        super().__init__(f"{reach.kind} reached at {reach.where}")
        self.reach = reach


@dataclass(frozen=True)
class Reach:
    kind: str  # database or network
    where: str  # ``path:line`` of the innermost project frame that asked for it
    code: str  # that line


def _project_frame() -> tuple[str, str]:
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if not path.is_relative_to(ROOT):
            continue
        relative = path.relative_to(ROOT)
        if relative.parts[0] in _NOT_MEASURED or ".venv" in relative.parts:
            continue
        return f"{relative.as_posix()}:{frame.lineno}", (frame.line or "").strip()
    return "outside the project", ""


@contextmanager
def sealed() -> Iterator[list[Reach]]:
    """No database connection, no socket: each attempt is recorded, then refused."""
    reaches: list[Reach] = []

    def refuse(kind: str) -> Callable[..., Any]:
        def refused(*args: object, **kwargs: object) -> Any:
            reach = Reach(kind, *_project_frame())
            reaches.append(reach)
            raise Reached(reach)

        return refused

    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(BaseDatabaseWrapper, "ensure_connection", refuse("database"))
        )
        for name in ("connect", "connect_ex"):
            stack.enter_context(mock.patch.object(socket.socket, name, refuse("network")))
        stack.enter_context(mock.patch.object(socket, "getaddrinfo", refuse("network")))
        yield reaches


@dataclass
class World:
    """The fakes OrderManager was given, and what is in them."""

    repository: FakeOrderRepository = field(default_factory=FakeOrderRepository)
    supplier: FakeSupplier = field(default_factory=FakeSupplier)
    mails: FakeNotifier = field(default_factory=FakeNotifier)
    shipments: FakeShipmentRepository = field(default_factory=FakeShipmentRepository)

    def manager(self) -> OrderManager:
        logistics = LogisticsService(
            repository=self.shipments,
            supplier=self.supplier,
            notifier=FakeNotifier(),
            clock=FixedClock(NOW),
        )
        return OrderManager(
            notifications=NotificationService(notifications=self.mails),
            # A fake of DatabaseRepo: OrderManager's annotation names that class, not a port.
            repo=self.repository,  # type: ignore[arg-type]
            logistics=logistics,
        )


ORDER = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": "12 Analytical Row, London",
    "lines": [{"sku": "BOX-S", "quantity": 2}, {"sku": "PALLET-EUR", "quantity": 1}],
}


def _validate(manager: OrderManager, world: World) -> str:
    clean = manager.validate(ORDER)
    return f"{len(clean['lines'])} lines checked against the fake catalogue"


def _price(manager: OrderManager, world: World) -> str:
    prices = manager.price(manager.validate(ORDER)["lines"], "WELCOME10")
    return f"total EUR {prices['total']} with WELCOME10"


def _track_order(manager: OrderManager, world: World) -> str:
    tracking = manager.track_order(world.repository.orders[min(world.repository.orders)])
    return (
        f"shipment {tracking['shipping_status']}, the supplier says {tracking['supplier_status']}"
    )


def _sales_report(manager: OrderManager, world: World) -> str:
    rows = manager.sales_report(days=30)
    return f"{len(rows)} days, {sum(row['units'] for row in rows)} units"


def _low_stock_report(manager: OrderManager, world: World) -> str:
    rows = manager.low_stock_report()
    quoted = sum(row["quote"] is not None for row in rows)
    return f"{len(rows)} products low, {quoted} quoted by the fake supplier"


def _ship_order(manager: OrderManager, world: World) -> str:
    manager.ship_order(world.repository.orders[max(world.repository.orders)])
    return f"{len(world.supplier.requests)} dispatch at the fake supplier"


def _place_order(manager: OrderManager, world: World) -> str:
    order = manager.place_order(ORDER)
    return f"{order.number} placed, {len(world.mails.sent)} mails"


def _cancel_order(manager: OrderManager, world: World) -> str:
    manager.cancel_order(world.repository.orders[max(world.repository.orders)])
    return f"{len(world.mails.sent)} mails"


def _render_invoice(manager: OrderManager, world: World) -> str:
    manager.render_invoice(world.repository.invoices[min(world.repository.invoices)])
    return "rendered"


OPERATIONS: dict[str, Callable[[OrderManager, World], str]] = {
    "validate": _validate,
    "price": _price,
    "track_order": _track_order,
    "sales_report": _sales_report,
    "low_stock_report": _low_stock_report,
    "ship_order": _ship_order,
    "place_order": _place_order,
    "cancel_order": _cancel_order,
    "render_invoice": _render_invoice,
}


@dataclass(frozen=True)
class OperationRun:
    name: str
    answer: str | None  # what the operation returned from the fakes, when it ran to its end
    reach: Reach | None  # the first database or network reach, when it made one
    error: str | None  # anything else it raised: the injection itself is broken

    @property
    def on_fakes(self) -> bool:
        return self.answer is not None and self.reach is None


@dataclass(frozen=True)
class InjectionRun:
    collaborators: tuple[str, ...]
    operations: tuple[OperationRun, ...]

    def on_fakes(self) -> list[OperationRun]:
        return [run for run in self.operations if run.on_fakes]

    def reached(self, kind: str) -> list[OperationRun]:
        return [run for run in self.operations if run.reach and run.reach.kind == kind]

    def broken(self) -> list[OperationRun]:
        """Operations that failed on the fakes themselves, not at a reach."""
        return [run for run in self.operations if run.error is not None and run.reach is None]


def _world() -> World:
    """A catalogue with two products low on stock; two orders, the older one dispatched.

    The orders are dated from the real clock: ``sales_report`` reads it itself (nothing
    injects a clock into OrderManager).
    """
    world = World()
    for sku, price, stock in (
        ("BOX-S", "2.50", 500),
        ("PALLET-EUR", "19.90", 4),
        ("TAPE", "1.20", 3),
    ):
        world.repository.add_product(sku, price, stock)
    now = timezone.now()
    dispatched = world.repository.add_order(
        "ada@example.com",
        [("BOX-S", 2), ("PALLET-EUR", 1)],
        created_at=now - datetime.timedelta(days=1),
    )
    world.repository.add_order("grace@example.com", [("TAPE", 1)], created_at=now)
    logistics = world.manager().logistics
    outcome = logistics.dispatch(logistics.create_shipment(shipment_command(dispatched)).id)
    # What the shipment's listener copies onto the order's columns after a dispatch.
    dispatched.shipping_status = "dispatched"
    dispatched.supplier_reference = outcome.shipment.supplier_reference or ""
    dispatched.tracking_number = outcome.shipment.tracking_number or ""
    world.supplier.requests.clear()
    return world


def run_on_fakes() -> InjectionRun:
    """Each operation on fresh fakes, sealed; the strangler's routing state (the data phase the
    router reads, like a setting) fixed in the process, as a running process holds its copy."""
    runs = []
    for name, operation in OPERATIONS.items():
        world = _world()  # each operation on fresh fakes: none depends on another's writes
        manager = world.manager()
        answer = error = None
        with override_modes(all_routes="legacy"), sealed() as reaches:
            try:
                answer = operation(manager, world)
            except Reached:
                pass
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        runs.append(OperationRun(name, answer, reaches[0] if reaches else None, error))
    parameters = tuple(inspect.signature(OrderManager.__init__).parameters)[1:]  # self
    return InjectionRun(collaborators=parameters, operations=tuple(runs))
