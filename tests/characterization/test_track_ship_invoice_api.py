"""Golden behaviour of the legacy tracking, shipping and invoice endpoints."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from monolithos.models import Order

pytestmark = pytest.mark.simulator


# ---------------------------------------------------------------------- tracking


def test_tracking_a_dispatched_order_asks_the_supplier_for_its_status(
    client, placed_order, supplier
):
    response = client.get(f"/api/orders/{placed_order.pk}/track/")

    assert response.status_code == 200
    assert response.json() == {
        "order": placed_order.number,
        "status": "shipped",
        "shipping_status": "dispatched",
        "tracking_number": placed_order.tracking_number,
        "supplier_reference": placed_order.supplier_reference,
        "dispatched_at": placed_order.dispatched_at.isoformat(),
        "supplier_status": "accepted",
    }
    track_call = supplier.received()[-1]
    assert (track_call["method"], track_call["path"]) == (
        "GET",
        f"/v1/dispatches/{placed_order.supplier_reference}",
    )


def test_tracking_while_the_supplier_fails_reports_an_unknown_supplier_status(
    client, placed_order, supplier
):
    supplier.set_chaos(failure_rate=1.0)

    response = client.get(f"/api/orders/{placed_order.pk}/track/")

    assert response.status_code == 200
    assert response.json()["supplier_status"] == "unknown"
    assert response.json()["tracking_number"] == placed_order.tracking_number


def test_tracking_an_undispatched_order_does_not_call_the_supplier(
    client, undispatched_order, supplier
):
    response = client.get(f"/api/orders/{undispatched_order.pk}/track/")

    assert response.status_code == 200
    assert response.json() == {
        "order": undispatched_order.number,
        "status": "placed",
        "shipping_status": "dispatch_failed",
        "tracking_number": None,
        "supplier_reference": None,
        "dispatched_at": None,
        "supplier_status": None,
    }
    assert supplier.received() == []


def test_tracking_an_unknown_order_answers_404(client, db):
    response = client.get("/api/orders/999999/track/")

    assert response.status_code == 404
    assert response.json() == {"error": "order not found"}


# ---------------------------------------------------------------------- shipping


def test_shipping_an_undispatched_order_dispatches_it(client, undispatched_order, supplier):
    response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")

    assert response.status_code == 200
    [dispatch] = supplier.ledger()
    body = response.json()
    assert (body["status"], body["shipping_status"]) == ("shipped", "dispatched")
    assert body["supplier_reference"] == dispatch["supplier_reference"]
    assert body["tracking_number"] == dispatch["tracking_number"]
    assert dispatch["order_ref"] == undispatched_order.number
    undispatched_order.refresh_from_db()
    assert undispatched_order.dispatched_at is not None


def test_shipping_twice_answers_400_and_dispatches_once(client, placed_order, supplier):
    response = client.post(f"/api/orders/{placed_order.pk}/ship/")

    assert response.status_code == 400
    assert response.json() == {"error": f"order {placed_order.number} is already shipped"}
    assert len(supplier.ledger()) == 1


def test_shipping_while_the_supplier_fails_answers_502_and_changes_nothing(
    client, undispatched_order, supplier
):
    supplier.set_chaos(failure_rate=1.0)

    response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")

    assert response.status_code == 502
    assert response.json() == {"error": "supplier error: 503"}
    undispatched_order.refresh_from_db()
    assert (undispatched_order.status, undispatched_order.shipping_status) == (
        "placed",
        "dispatch_failed",
    )


def test_shipping_when_the_supplier_is_unreachable_answers_502(
    client, undispatched_order, settings
):
    settings.SUPPLIER_API_URL = "http://127.0.0.1:9"  # discard port: connection refused

    response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")

    assert response.status_code == 502
    assert response.json() == {"error": "supplier unreachable: ConnectionError"}


def test_shipping_a_cancelled_order_answers_400(client, undispatched_order, supplier):
    Order.objects.filter(pk=undispatched_order.pk).update(status="cancelled")

    response = client.post(f"/api/orders/{undispatched_order.pk}/ship/")

    assert response.status_code == 400
    assert response.json() == {"error": f"order {undispatched_order.number} is cancelled"}
    assert supplier.received() == []


def test_shipping_an_unknown_order_answers_404(client, db):
    assert client.post("/api/orders/999999/ship/").status_code == 404


def test_shipping_needs_a_post(client, placed_order):
    assert client.get(f"/api/orders/{placed_order.pk}/ship/").status_code == 405


# ---------------------------------------------------------------------- invoices


def test_the_invoice_downloads_as_a_pdf_naming_its_number(client, placed_order):
    response = client.get(f"/api/orders/{placed_order.pk}/invoice.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    number = placed_order.invoice.number
    assert f'filename="{number}.pdf"' in response["Content-Disposition"]
    pdf = b"".join(response.streaming_content)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert number in text
    assert placed_order.number in text


def test_an_invoice_whose_file_is_missing_is_rendered_on_download(client, placed_order):
    invoice = placed_order.invoice
    invoice.pdf.delete(save=True)

    response = client.get(f"/api/orders/{placed_order.pk}/invoice.pdf")

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    invoice.refresh_from_db()
    assert invoice.pdf.name == f"invoices/{invoice.number}.pdf"


def test_the_invoice_of_an_unknown_order_answers_404(client, db):
    response = client.get("/api/orders/999999/invoice.pdf")

    assert response.status_code == 404
    assert response.json() == {"error": "order not found"}
