"""Invoice PDFs rendered by a worker: once per version, pending until then, retried on errors."""

from __future__ import annotations

import io
import os
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from celery.exceptions import Retry
from django.utils import timezone
from prometheus_client import REGISTRY
from pypdf import PdfReader
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from monolithos import invoicing
from monolithos.models import Invoice, Order, OrderLine
from monolithos.order_manager import OrderManager
from monolithos.tasks import render_invoice, sweep_pending_invoices
from tests.factories import CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


def an_invoice_owed_a_render() -> Invoice:
    """An order taken by the asynchronous path: its invoice recorded, its PDF left to a worker."""
    product = ProductFactory(price=Decimal("18.50"))
    order = Order.objects.create(
        customer=CustomerFactory(),
        shipping_name="Ada Lovelace",
        shipping_address="12 Analytical Row\nLondon",
        subtotal=Decimal("37.00"),
        tax=Decimal("7.03"),
        shipping_cost=Decimal("4.90"),
        total=Decimal("48.93"),
    )
    order.number = f"ORD-{order.pk:06d}"
    order.save()
    OrderLine.objects.create(
        order=order,
        product=product,
        sku=product.sku,
        quantity=2,
        unit_price=product.price,
        line_total=Decimal("37.00"),
    )
    return Invoice.objects.create(order=order, number=f"INV-{order.pk:06d}", amount=order.total)


def pdf_text(pdf: bytes) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_the_task_renders_an_owed_invoice_once_and_a_second_run_does_nothing():
    invoice = an_invoice_owed_a_render()
    assert invoice.render_pending

    first = render_invoice.apply(args=(invoice.pk,))

    assert first.result is True
    invoice.refresh_from_db()
    assert not invoice.render_pending
    assert invoice.rendered_version == invoice.version == 1
    assert invoice.pdf.name == f"invoices/{invoice.number}.pdf"
    written = os.stat(invoice.pdf.path).st_mtime_ns
    with invoice.pdf.open("rb") as handle:
        pdf = handle.read()
    assert invoice.number in pdf_text(pdf)

    again = render_invoice.apply(args=(invoice.pk,))

    assert again.result is False
    assert os.stat(invoice.pdf.path).st_mtime_ns == written
    with invoice.pdf.open("rb") as handle:
        assert handle.read() == pdf


def test_a_new_version_of_a_rendered_invoice_is_rendered_again_under_the_same_name():
    invoice = an_invoice_owed_a_render()
    render_invoice.apply(args=(invoice.pk,))
    Invoice.objects.filter(pk=invoice.pk).update(version=2)

    assert render_invoice.apply(args=(invoice.pk,)).result is True

    invoice.refresh_from_db()
    assert invoice.rendered_version == 2
    assert invoice.pdf.name == f"invoices/{invoice.number}.pdf"
    assert invoice.pdf.storage.listdir("invoices")[1] == [f"{invoice.number}.pdf"]


def test_a_render_of_an_older_version_never_replaces_the_recorded_one():
    invoice = an_invoice_owed_a_render()
    stale = Invoice.objects.get(pk=invoice.pk)  # loaded at version 1, rendered slowly
    Invoice.objects.filter(pk=invoice.pk).update(version=2)
    render_invoice.apply(args=(invoice.pk,))
    invoice.refresh_from_db()
    with invoice.pdf.open("rb") as handle:
        newer = handle.read()

    invoicing.store_invoice_pdf(stale, b"%PDF- version 1")

    invoice.refresh_from_db()
    assert invoice.rendered_version == 2
    with invoice.pdf.open("rb") as handle:
        assert handle.read() == newer


def test_a_lost_file_of_a_rendered_version_is_rendered_again():
    invoice = an_invoice_owed_a_render()
    render_invoice.apply(args=(invoice.pk,))
    invoice.pdf.storage.delete(f"invoices/{invoice.number}.pdf")

    assert render_invoice.apply(args=(invoice.pk,)).result is True

    invoice.refresh_from_db()
    assert invoice.rendered_version == 1
    assert invoice.pdf.storage.exists(f"invoices/{invoice.number}.pdf")


def test_the_legacy_render_in_the_request_records_the_rendered_version():
    invoice = an_invoice_owed_a_render()

    returned = OrderManager().render_invoice(invoice)

    assert returned is invoice
    assert invoice.rendered_version == 1
    assert invoice.pdf.name == f"invoices/{invoice.number}.pdf"
    assert Invoice.objects.get(pk=invoice.pk).rendered_version == 1


def test_a_pending_invoice_downloads_as_202_with_a_retry_hint(client):
    invoice = an_invoice_owed_a_render()

    response = client.get(f"/api/orders/{invoice.order_id}/invoice.pdf")

    assert response.status_code == 202
    assert response["Retry-After"] == "5"
    assert response.json() == {"status": "pending", "retry_after": 5}


def test_the_sweep_hands_over_again_only_renders_owed_past_the_lease(settings):
    from outbox.models import OutboxMessage

    settings.OWED_WORK_LEASE_SECONDS = 60
    stale, _recent, rendered = (an_invoice_owed_a_render() for _ in range(3))
    render_invoice.apply(args=(rendered.pk,))
    Invoice.objects.filter(pk__in=[stale.pk, rendered.pk]).update(
        created_at=timezone.now() - timedelta(minutes=2)
    )

    assert sweep_pending_invoices.apply().result == 1
    [message] = OutboxMessage.objects.all()
    assert (message.key, message.kwargs) == (
        f"invoice:{stale.number}:v1",
        {"invoice_id": stale.pk},
    )
    assert sweep_pending_invoices.apply().result == 0  # the outbox follows it now


def test_a_rendered_invoice_downloads_as_its_pdf(client, monkeypatch):
    invoice = an_invoice_owed_a_render()
    render_invoice.apply(args=(invoice.pk,))
    monkeypatch.setattr(render_invoice, "delay", lambda *_: pytest.fail("nothing is owed"))

    response = client.get(f"/api/orders/{invoice.order_id}/invoice.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    assert invoice.number in pdf_text(b"".join(response.streaming_content))


@pytest.mark.parametrize(("retries", "ceiling"), [(0, 10.0), (4, 30.0)])
def test_a_render_error_makes_the_task_retry_with_a_countdown_within_the_cap(
    monkeypatch, settings, retries, ceiling
):
    settings.CELERY_MAX_COUNTDOWN_SECONDS = 30  # 10 s doubled four times is 160 s: capped
    invoice = an_invoice_owed_a_render()

    def broken_render(*_: Any, **__: Any) -> bytes:
        raise OSError("fontconfig: cannot load default config file")

    countdowns: list[float] = []

    def retry(*, exc: BaseException, countdown: float) -> Exception:
        assert isinstance(exc, OSError)
        countdowns.append(countdown)
        return Retry()

    monkeypatch.setattr(invoicing, "render_invoice_pdf", broken_render)
    monkeypatch.setattr(render_invoice, "retry", retry)

    result = render_invoice.apply(args=(invoice.pk,), retries=retries)

    assert result.state == "RETRY"
    assert len(countdowns) == 1 and 0 <= countdowns[0] <= ceiling
    assert Invoice.objects.get(pk=invoice.pk).render_pending


def test_the_task_for_an_invoice_that_no_longer_exists_does_nothing():
    invoice = an_invoice_owed_a_render()
    invoice_id = invoice.pk
    invoice.order.delete()

    assert render_invoice.apply(args=(invoice_id,)).result is False


def test_the_render_time_is_observed_by_where_it_ran():
    def renders(where: str) -> float:
        labels = {"where": where}
        return REGISTRY.get_sample_value("monolithos_invoice_render_seconds_count", labels) or 0.0

    before = renders("worker"), renders("request")
    render_invoice.apply(args=(an_invoice_owed_a_render().pk,))
    OrderManager().render_invoice(an_invoice_owed_a_render())

    assert (renders("worker"), renders("request")) == (before[0] + 1, before[1] + 1)


def test_the_font_configuration_is_reused_between_renders(monkeypatch):
    write_pdf = HTML.write_pdf
    used: list[Any] = []

    def spy(self: HTML, *args: Any, **kwargs: Any) -> bytes:
        used.append(kwargs.get("font_config"))
        pdf: bytes = write_pdf(self, *args, **kwargs)
        return pdf

    monkeypatch.setattr(HTML, "write_pdf", spy)

    invoicing.render_invoice_pdf(an_invoice_owed_a_render(), where="worker")
    invoicing.render_invoice_pdf(an_invoice_owed_a_render(), where="worker")

    assert len(used) == 2
    assert isinstance(used[0], FontConfiguration)
    assert used[0] is used[1] is invoicing.font_configuration()


def test_each_thread_renders_with_its_own_font_configuration():
    # Pango font maps must not be shared by two threads (gunicorn renders in its threads).
    other: list[FontConfiguration] = []
    thread = threading.Thread(target=lambda: other.append(invoicing.font_configuration()))
    thread.start()
    thread.join()

    assert other[0] is not invoicing.font_configuration()
