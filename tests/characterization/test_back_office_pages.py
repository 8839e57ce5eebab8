"""Golden behaviour of the legacy back-office HTML pages and the admin."""

from __future__ import annotations

import pytest

from monolithos.models import Customer, Order, Product
from tests.factories import CustomerFactory

pytestmark = pytest.mark.simulator

PAGES = ["/orders/", "/orders/new/", "/reports/"]


@pytest.mark.parametrize("url", PAGES)
def test_pages_send_anonymous_visitors_to_the_admin_login(client, db, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}"


def test_the_home_page_redirects_to_the_order_list(client, db):
    response = client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/orders/")


def test_the_order_list_shows_orders_newest_first_and_filters_by_status(
    staff_client, placed_order, undispatched_order
):
    response = staff_client.get("/orders/")

    assert response.status_code == 200
    content = response.content.decode()
    assert content.index(undispatched_order.number) < content.index(placed_order.number)
    filtered = staff_client.get("/orders/?status=shipped").content.decode()
    assert placed_order.number in filtered
    assert undispatched_order.number not in filtered


def test_the_order_detail_shows_lines_totals_tracking_and_invoice(staff_client, placed_order):
    response = staff_client.get(f"/orders/{placed_order.pk}/")

    assert response.status_code == 200
    content = response.content.decode()
    for text in (
        f"Order {placed_order.number}",
        "PALLET",
        "Total EUR 49.35",
        f"Tracking number: {placed_order.tracking_number}",
        f"Invoice {placed_order.invoice.number} (PDF)",
    ):
        assert text in content
    assert "Cancel order" not in content  # shipped orders cannot be cancelled


def test_an_unknown_order_detail_answers_404(staff_client):
    response = staff_client.get("/orders/999999/")

    assert response.status_code == 404
    assert "Order 999999 not found" in response.content.decode()


def test_the_order_form_lists_every_product_with_its_stock(staff_client, catalogue):
    response = staff_client.get("/orders/new/")

    assert response.status_code == 200
    content = response.content.decode()
    for product in catalogue.values():
        assert f'name="qty_{product.sku}"' in content


def test_the_order_form_places_an_order_and_redirects_to_it(
    staff_client, catalogue, supplier, mailoutbox
):
    response = staff_client.post(
        "/orders/new/",
        {
            "customer_name": "Grace Hopper",
            "customer_email": "grace@example.com",
            "shipping_address": "1 Compiler Way",
            "discount_code": "",
            "qty_PALLET": "1",
            "qty_BOX-S": "0",
            "qty_SCALE": "",
        },
    )

    order = Order.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/orders/{order.pk}/")
    assert [(line.sku, line.quantity) for line in order.lines.all()] == [("PALLET", 1)]
    assert order.shipping_status == "dispatched"
    assert len(mailoutbox) == 2


@pytest.mark.parametrize(
    ("quantities", "error"),
    [
        ({"qty_PALLET": "abc"}, "invalid quantity for PALLET"),
        ({"qty_PALLET": "-1"}, "invalid quantity for PALLET"),
        ({"qty_SCALE": "9"}, "insufficient stock for SCALE (requested 9, available 4)"),
        ({}, "lines must be a non-empty list"),
    ],
)
def test_the_order_form_shows_the_error_with_400_and_writes_nothing(
    staff_client, catalogue, supplier, mailoutbox, quantities, error
):
    response = staff_client.post(
        "/orders/new/",
        {
            "customer_name": "Grace Hopper",
            "customer_email": "grace@example.com",
            "shipping_address": "1 Compiler Way",
            **quantities,
        },
    )

    assert response.status_code == 400
    assert error in response.content.decode()
    assert 'value="Grace Hopper"' in response.content.decode()
    assert Order.objects.count() == 0
    assert Product.objects.get(sku="SCALE").stock == 4
    assert mailoutbox == []


def test_cancelling_an_order_releases_its_stock_and_mails_the_customer(
    staff_client, undispatched_order, mailoutbox
):
    response = staff_client.post(f"/orders/{undispatched_order.pk}/cancel/")

    assert (response.status_code, response["Location"]) == (
        302,
        f"/orders/{undispatched_order.pk}/",
    )
    undispatched_order.refresh_from_db()
    assert (undispatched_order.status, undispatched_order.shipping_status) == (
        "cancelled",
        "cancelled",
    )
    assert undispatched_order.cancelled_at is not None
    assert Product.objects.get(sku="PALLET").stock == 120
    assert [(mail.subject, mail.to) for mail in mailoutbox] == [
        (f"Your order {undispatched_order.number} has been cancelled", ["ada@example.com"])
    ]


def test_cancelling_twice_answers_400_and_releases_stock_once(
    staff_client, undispatched_order, mailoutbox
):
    staff_client.post(f"/orders/{undispatched_order.pk}/cancel/")

    response = staff_client.post(f"/orders/{undispatched_order.pk}/cancel/")

    assert response.status_code == 400
    assert "is already cancelled" in response.content.decode()
    assert Product.objects.get(sku="PALLET").stock == 120
    assert len(mailoutbox) == 1


def test_a_shipped_order_cannot_be_cancelled(staff_client, placed_order, mailoutbox):
    response = staff_client.post(f"/orders/{placed_order.pk}/cancel/")

    assert response.status_code == 400
    assert "is shipped and cannot be cancelled" in response.content.decode()
    assert Product.objects.get(sku="PALLET").stock == 118
    assert mailoutbox == []


def test_cancelling_needs_a_post(staff_client, undispatched_order):
    assert staff_client.get(f"/orders/{undispatched_order.pk}/cancel/").status_code == 405


def test_the_reports_page_shows_sales_and_asks_the_supplier_to_quote_low_stock(
    staff_client, placed_order, supplier
):
    response = staff_client.get("/reports/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "EUR 49.35" in content  # today's revenue
    # SCALE (4 in stock) is the only product under the threshold of 10: reorder 16.
    [quote_call] = [call for call in supplier.received() if call["path"] == "/v1/quotes"]
    assert (quote_call["path"], quote_call["query"]) == (
        "/v1/quotes",
        {"sku": "SCALE", "quantity": "16"},
    )
    assert "<td>SCALE</td><td>4</td><td>16</td>" in content
    assert "per unit" in content


def test_the_reports_page_survives_a_failing_supplier(staff_client, placed_order, supplier):
    supplier.set_chaos(failure_rate=1.0)

    response = staff_client.get("/reports/")

    assert response.status_code == 200
    assert "unavailable" in response.content.decode()


# ---------------------------------------------------------------------- hidden side effects


def test_an_order_added_in_the_admin_mails_the_sales_team(staff_client, mailoutbox):
    customer = CustomerFactory(email="quiet@example.com")

    response = staff_client.post(
        "/admin/monolithos/order/add/",
        {
            "customer": customer.pk,
            "status": "placed",
            "shipping_status": "pending",
            "shipping_name": "Q",
            "shipping_address": "Nowhere",
            "discount_code": "",
            "subtotal": "0",
            "discount": "0",
            "shipping_cost": "0",
            "tax": "0",
            "total": "0",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302
    assert Order.objects.get().customer == customer
    assert [(mail.subject, mail.to) for mail in mailoutbox] == [
        ("New order for quiet@example.com", ["sales@monolithos.example"])
    ]


# ---------------------------------------------------------------------- admin


@pytest.mark.parametrize("model", [Customer, Product, Order])
def test_the_admin_lists_and_shows_the_legacy_models(staff_client, placed_order, model):
    opts = model._meta
    changelist = staff_client.get(f"/admin/{opts.app_label}/{opts.model_name}/")
    obj = model.objects.first()
    change = staff_client.get(f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/")

    assert (changelist.status_code, change.status_code) == (200, 200)


def test_the_admin_lists_invoices(staff_client, placed_order):
    response = staff_client.get("/admin/monolithos/invoice/")

    assert response.status_code == 200
    assert placed_order.invoice.number in response.content.decode()
