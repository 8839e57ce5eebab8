"""GET /api/v1/orders/<id>/invoice.pdf: 202 and Retry-After until a worker renders it, then a PDF.

The request never renders: a rendered version whose file was lost is handed back to the
invoices worker, and the client is told to come back, as for a render still owed.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from pypdf import PdfReader

from monolithos import invoicing
from monolithos.models import Invoice, Order
from monolithos.tasks import render_invoice

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

PENDING = {"status": "pending", "retry_after": 5}


def url(order: Order) -> str:
    return f"/api/v1/orders/{order.pk}/invoice.pdf"


def pdf_text(response) -> str:
    return PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages[0].extract_text()


def test_an_invoice_owed_its_render_answers_202_with_retry_after(
    client_as, owner: User, order: Order, sent_tasks
):
    response = client_as(owner).get(url(order))

    assert response.status_code == 202
    assert response["Retry-After"] == "5"
    assert response.json() == PENDING
    assert sent_tasks == []  # the worker already owes it (and the sweep re-sends a lost message)


def test_a_rendered_invoice_downloads_as_its_pdf(client_as, owner: User, order: Order):
    invoicing.render_invoice(order.invoice.pk, where="worker")

    response = client_as(owner).get(url(order))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{order.invoice.number}.pdf"' in response["Content-Disposition"]
    assert order.invoice.number in pdf_text(response)


def test_a_lost_file_is_rendered_again_by_the_worker_never_in_the_request(
    client_as, owner: User, order: Order, sent_tasks, monkeypatch
):
    invoicing.render_invoice(order.invoice.pk, where="worker")
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    invoice.pdf.storage.delete(str(invoice.pdf.name))
    render_for_real = invoicing.render_invoice_pdf
    monkeypatch.setattr(
        invoicing, "render_invoice_pdf", lambda *_, **__: pytest.fail("rendered in the request")
    )
    client = client_as(owner)

    lost = client.get(url(order))

    assert (lost.status_code, lost["Retry-After"], lost.json()) == (202, "5", PENDING)
    assert sent_tasks == [("monolithos.tasks.render_invoice", {"invoice_id": invoice.pk})]
    # The worker's half, as the message asks it.
    monkeypatch.setattr(invoicing, "render_invoice_pdf", render_for_real)
    assert render_invoice.apply(kwargs=sent_tasks[0][1]).result is True
    found = client.get(url(order))
    assert found.status_code == 200
    assert invoice.number in pdf_text(found)


def test_a_broker_that_refuses_the_render_still_answers_202(
    client_as, owner: User, order: Order, monkeypatch, log_lines
):
    from celery import current_app

    invoicing.render_invoice(order.invoice.pk, where="worker")
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    invoice.pdf.storage.delete(str(invoice.pdf.name))

    def broker_down(*_, **__):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(current_app, "send_task", broker_down)

    response = client_as(owner).get(url(order))

    assert (response.status_code, response.json()) == (202, PENDING)
    [warning] = log_lines.events("invoice_render_not_enqueued")
    assert warning["invoice"] == invoice.number


def test_asking_for_a_pdf_gets_the_json_answers_too_never_a_406(
    client_as, owner: User, stranger: User, order: Order
):
    pending = client_as(owner).get(url(order), HTTP_ACCEPT="application/pdf")
    refused = client_as(stranger).get(url(order), HTTP_ACCEPT="application/pdf")

    assert (pending.status_code, pending["Content-Type"]) == (202, "application/json")
    assert (refused.status_code, refused.json()["message"]) == (404, "No such order.")


def test_an_order_without_an_invoice_is_404(client_as, owner: User, order: Order):
    Invoice.objects.filter(order=order).delete()

    response = client_as(owner).get(url(order))

    assert response.status_code == 404
    assert response.json() == {"message": "This order has no invoice.", "extra": {}}
