"""Golden behaviour of ``POST /api/orders/``: what the web shop sees and what it leaves behind."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from monolithos.models import Customer, Invoice, Order, OrderLine, Product
from tests.characterization.shop import order_payload, place

pytestmark = pytest.mark.simulator


def test_placing_an_order_answers_201_with_the_priced_and_dispatched_order(
    client, catalogue, supplier
):
    response = place(client, order_payload())

    assert response.status_code == 201
    body = response.json()
    order_id = body["id"]
    [dispatch] = supplier.ledger()
    assert body == {
        "id": order_id,
        "number": f"ORD-{order_id:06d}",
        "status": "shipped",
        "customer_email": "ada@example.com",
        "shipping_name": "Ada Lovelace",
        "shipping_address": "12 Analytical Row\nLondon",
        "discount_code": "",
        "subtotal": "37.00",
        "discount": "0.00",
        "shipping_cost": "4.95",
        "tax": "7.40",
        "total": "49.35",
        "shipping_status": "dispatched",
        "tracking_number": dispatch["tracking_number"],
        "supplier_reference": dispatch["supplier_reference"],
        "lines": [{"sku": "PALLET", "quantity": 2, "unit_price": "18.50", "line_total": "37.00"}],
        "invoice": f"/api/orders/{order_id}/invoice.pdf",
    }


def test_placing_an_order_writes_order_lines_invoice_customer_and_takes_stock(
    client, catalogue, supplier
):
    response = place(
        client,
        order_payload(lines=[{"sku": "PALLET", "quantity": 2}, {"sku": "BOX-S", "quantity": 3}]),
    )

    order = Order.objects.get(pk=response.json()["id"])
    assert order.dispatched_at is not None
    assert [
        (line.sku, line.quantity, str(line.line_total)) for line in order.lines.order_by("sku")
    ] == [
        ("BOX-S", 3, "2.70"),
        ("PALLET", 2, "37.00"),
    ]
    assert Product.objects.get(sku="PALLET").stock == 118
    assert Product.objects.get(sku="BOX-S").stock == 497
    assert Customer.objects.get().email == "ada@example.com"
    invoice = Invoice.objects.get(order=order)
    assert invoice.number == f"INV-{order.pk:06d}"
    assert str(invoice.amount) == str(order.total)


def test_placing_an_order_renders_a_pdf_invoice_inside_the_request(client, catalogue, supplier):
    response = place(client, order_payload())

    invoice = Invoice.objects.get(order_id=response.json()["id"])
    with invoice.pdf.open("rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF-")
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert invoice.number in text
    assert "EUR 49.35" in text


def test_placing_an_order_mails_the_customer_and_the_sales_team(
    client, catalogue, supplier, mailoutbox
):
    response = place(client, order_payload())

    number = response.json()["number"]
    assert sorted((mail.subject, tuple(mail.to)) for mail in mailoutbox) == [
        ("New order for ada@example.com", ("sales@monolithos.example",)),
        (f"Your order {number}", ("ada@example.com",)),
    ]
    confirmation = next(mail for mail in mailoutbox if mail.to == ["ada@example.com"])
    assert "2 x PALLET  EUR 37.00" in confirmation.body
    assert "Total: EUR 49.35" in confirmation.body


def test_placing_an_order_dispatches_it_to_the_supplier_once(client, catalogue, supplier):
    response = place(client, order_payload())

    [call] = supplier.received()
    assert call["method"] == "POST"
    assert call["path"] == "/v1/dispatches"
    assert call["body"] == {
        "order_ref": response.json()["number"],
        "destination": "12 Analytical Row\nLondon",
        "items": [{"sku": "PALLET", "quantity": 2}],
    }
    assert len(supplier.ledger()) == 1


def test_an_order_placed_while_the_supplier_fails_is_kept_but_not_dispatched(
    client, catalogue, supplier, mailoutbox
):
    supplier.set_chaos(failure_rate=1.0)

    response = place(client, order_payload())

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["shipping_status"]) == ("placed", "dispatch_failed")
    assert body["tracking_number"] is None
    assert body["supplier_reference"] is None
    assert supplier.ledger() == []
    assert [call["outcome"] for call in supplier.received()] == ["failed"]
    assert Invoice.objects.filter(order_id=body["id"]).exists()
    assert len(mailoutbox) == 2
    assert Product.objects.get(sku="PALLET").stock == 118


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # 20 x 0.90 = 18.00 with the 5% bulk discount: 17.10; tax 3.42; shipping 4.95.
        (
            {"lines": [{"sku": "BOX-S", "quantity": 20}]},
            {
                "subtotal": "17.10",
                "discount": "0.00",
                "shipping_cost": "4.95",
                "tax": "3.42",
                "total": "25.47",
            },
        ),
        # 249.00 with WELCOME10: discount 24.90, taxable 224.10, free shipping, tax 44.82.
        (
            {"lines": [{"sku": "SCALE", "quantity": 1}], "discount_code": "welcome10"},
            {
                "subtotal": "249.00",
                "discount": "24.90",
                "shipping_cost": "0.00",
                "tax": "44.82",
                "total": "268.92",
            },
        ),
        # 6 pallets: 111.00; SPRING5 takes 5.55 off: 105.45, still free shipping.
        (
            {"lines": [{"sku": "PALLET", "quantity": 6}], "discount_code": "SPRING5"},
            {
                "subtotal": "111.00",
                "discount": "5.55",
                "shipping_cost": "0.00",
                "tax": "21.09",
                "total": "126.54",
            },
        ),
    ],
)
def test_prices_apply_bulk_discount_codes_free_shipping_and_tax(
    client, catalogue, supplier, overrides: dict[str, Any], expected: dict[str, str]
):
    response = place(client, order_payload(**overrides))

    assert response.status_code == 201
    body = response.json()
    assert {key: body[key] for key in expected} == expected
    assert body["discount_code"] == overrides.get("discount_code", "").upper()


def test_a_returning_customer_keeps_their_first_name_on_record(client, catalogue, supplier):
    place(client, order_payload())
    place(client, order_payload(customer_name="A. Lovelace", customer_email="ADA@example.com"))

    assert Customer.objects.count() == 1
    assert Customer.objects.get().name == "Ada Lovelace"
    assert list(Order.objects.values_list("shipping_name", flat=True).order_by("id")) == [
        "Ada Lovelace",
        "A. Lovelace",
    ]
    assert OrderLine.objects.count() == 2
