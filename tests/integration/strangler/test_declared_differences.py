"""Each declared difference of the new handlers, pinned: what the client sees instead, and that
the work is done all the same once the workers ran (docs/runbook.md, the deprecation table).

The characterization suite expects exactly these tests of it to fail in ``new`` mode
(tests/strangler_modes.py); the shadow comparator accepts exactly these differences.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pypdf import PdfReader

from monolithos.models import Invoice, Order
from outbox.models import OutboxMessage
from strangler.models import ShadowMismatch
from strangler.testing import override_modes
from tests.characterization.shop import order_payload, place

pytestmark = [pytest.mark.simulator, pytest.mark.django_db(databases=["default", "logistics"])]


@pytest.fixture(autouse=True)
def matches_logged() -> Iterator[None]:
    """A match is logged at debug level; these tests read which declared difference it used."""
    publisher = logging.getLogger("strangler.publisher")
    level = publisher.level
    publisher.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        publisher.setLevel(level)


def shadow_outcomes(log_lines) -> list[tuple[str, list[str]]]:
    return [
        (line["result"], line.get("declared", [])) for line in log_lines.events("strangler_shadow")
    ]


# ---------------------------------------------------------------------- placement


def test_new_placement_answers_201_before_the_dispatch_and_the_workers_do_the_rest(
    client, pallets, supplier, mailoutbox, workers
):
    with override_modes({"api_place_order": "new"}):
        response = place(client, order_payload())

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["shipping_status"]) == ("placed", "pending")
    assert (body["tracking_number"], body["supplier_reference"]) == (None, None)
    assert (body["total"], body["lines"][0]["line_total"]) == ("49.35", "37.00")
    # Nothing slow happened in the request: no supplier call, no mail, no PDF.
    assert supplier.received() == []
    assert mailoutbox == []
    invoice = Invoice.objects.get(order_id=body["id"])
    assert invoice.render_pending
    assert sorted(OutboxMessage.objects.values_list("task", flat=True)) == [
        "logistics.tasks.create_shipment",
        "monolithos.tasks.render_invoice",
        "notifications.tasks.send_notification",
        "notifications.tasks.send_notification",
    ]

    workers.run()

    order = Order.objects.get(pk=body["id"])
    [dispatch] = supplier.ledger()
    assert (order.status, order.shipping_status) == ("shipped", "dispatched")
    assert order.tracking_number == dispatch["tracking_number"]
    assert len(mailoutbox) == 2
    invoice.refresh_from_db()
    assert not invoice.render_pending


def test_shadow_placement_accepts_the_declared_difference_and_nothing_else(
    client, pallets, supplier, log_lines
):
    with override_modes({"api_place_order": "shadow"}):
        response = place(client, order_payload())

    assert response.json()["shipping_status"] == "dispatched"  # legacy answered
    assert shadow_outcomes(log_lines) == [("match", ["dispatched-by-the-worker"])]
    assert ShadowMismatch.objects.count() == 0


# ---------------------------------------------------------------------- shipping


def test_new_shipping_answers_202_and_the_worker_dispatches(
    client, undispatched_order, supplier, workers
):
    with override_modes({"api_ship_order": "new"}):
        response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")

    assert response.status_code == 202
    assert response.json()["shipping_status"] == "dispatch_failed"  # as it is, for now
    assert supplier.ledger() == []

    workers.run()

    [dispatch] = supplier.ledger()
    assert dispatch["order_ref"] == undispatched_order.number
    undispatched_order.refresh_from_db()
    assert (undispatched_order.status, undispatched_order.shipping_status) == (
        "shipped",
        "dispatched",
    )


def test_new_shipping_twice_before_the_worker_ran_hands_one_dispatch_over(
    client, undispatched_order, supplier, workers
):
    with override_modes({"api_ship_order": "new"}):
        first = client.post(f"/api/orders/{undispatched_order.pk}/ship/")
        second = client.post(f"/api/orders/{undispatched_order.pk}/ship/")
    workers.run()

    assert (first.status_code, second.status_code) == (202, 202)
    assert len(supplier.ledger()) == 1


def test_new_shipping_leaves_a_supplier_failure_to_the_worker_instead_of_a_502(
    client, undispatched_order, supplier, workers
):
    supplier.set_chaos(failure_rate=1.0)

    with override_modes({"api_ship_order": "new"}):
        response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")
    workers.run()

    assert response.status_code == 202
    assert supplier.ledger() == []
    undispatched_order.refresh_from_db()
    assert (undispatched_order.status, undispatched_order.shipping_status) == (
        "placed",
        "dispatch_failed",
    )


@pytest.mark.parametrize("failure", ["503", "unreachable"])
def test_shadow_shipping_accepts_the_workers_dispatch_and_its_failures(
    client, undispatched_order, supplier, settings, log_lines, failure
):
    if failure == "503":
        supplier.set_chaos(failure_rate=1.0)
        expected = ("match", ["supplier-failures-are-the-workers"])
    else:
        settings.SUPPLIER_API_URL = "http://127.0.0.1:9"
        expected = ("match", ["supplier-failures-are-the-workers"])

    with override_modes({"api_ship_order": "shadow"}):
        response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")

    assert response.status_code == 502  # legacy answered
    assert shadow_outcomes(log_lines) == [expected]


def test_shadow_shipping_accepts_the_dispatch_answered_by_a_202(
    client, undispatched_order, supplier, log_lines
):
    with override_modes({"api_ship_order": "shadow"}):
        response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")

    assert response.status_code == 200
    assert len(supplier.ledger()) == 1  # the legacy dispatch only
    assert shadow_outcomes(log_lines) == [("match", ["dispatch-by-the-worker"])]


# ---------------------------------------------------------------------- invoices


def test_new_invoice_download_of_a_lost_file_answers_202_until_the_worker_rendered_it(
    client, dispatched_order, workers
):
    invoice = dispatched_order.invoice
    invoice.pdf.delete(save=True)

    with override_modes({"api_invoice_pdf": "new"}):
        waiting = client.get(f"/api/orders/{dispatched_order.pk}/invoice.pdf")
        workers.run()
        ready = client.get(f"/api/orders/{dispatched_order.pk}/invoice.pdf")

    assert waiting.status_code == 202
    assert (waiting["Retry-After"], waiting.json()) == (
        "5",
        {"status": "pending", "retry_after": 5},
    )
    assert ready.status_code == 200
    text = PdfReader(io.BytesIO(b"".join(ready.streaming_content))).pages[0].extract_text()
    assert invoice.number in text


def test_shadow_invoice_download_accepts_the_202_for_a_lost_file(
    client, dispatched_order, log_lines
):
    dispatched_order.invoice.pdf.delete(save=True)

    with override_modes({"api_invoice_pdf": "shadow"}):
        response = client.get(f"/api/orders/{dispatched_order.pk}/invoice.pdf")

    assert response.status_code == 200  # legacy rendered it
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert shadow_outcomes(log_lines) == [("match", ["never-rendered-in-the-request"])]
    assert OutboxMessage.objects.count() == 0  # the candidate's hand-off was rolled back


# ---------------------------------------------------------------------- tracking (no difference)


def test_new_tracking_reads_the_shipment_not_the_order_columns(client, dispatched_order):
    # Columns that lag behind (a process died between the two commits): the shipment decides.
    Order.objects.filter(pk=dispatched_order.pk).update(
        status="placed", shipping_status="pending", tracking_number=""
    )

    with override_modes({"api_track_order": "legacy"}):
        legacy = client.get(f"/api/orders/{dispatched_order.pk}/track/").json()
    with override_modes({"api_track_order": "new"}):
        new = client.get(f"/api/orders/{dispatched_order.pk}/track/").json()

    assert (legacy["status"], legacy["shipping_status"]) == ("placed", "pending")
    assert (new["status"], new["shipping_status"]) == ("shipped", "dispatched")
    assert new["tracking_number"] == dispatched_order.tracking_number


# ---------------------------------------------------------------------- the list itself


@pytest.mark.django_db(databases=[])
def test_every_declared_difference_names_a_characterization_test_that_exists():
    import ast
    from pathlib import Path

    from tests.strangler_modes import DECLARED

    folder = Path(__file__).resolve().parents[2] / "characterization"
    for mode, entries in DECLARED.items():
        for entry in entries:
            filename, _, function = entry.partition("::")
            tree = ast.parse((folder / filename).read_text())
            names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            assert function in names, (mode, entry)
