"""Invoice PDFs: render one with WeasyPrint, store it, record which version it shows.

One PDF per invoice version, stored under the deterministic name ``invoices/<number>.pdf``. A
render is owed while ``Invoice.rendered_version`` lags behind ``Invoice.version``;
``render_invoice`` pays it and is idempotent, so the legacy request path
(``OrderManager.render_invoice``) and the worker (``monolithos.tasks.render_invoice``) share it;
``request_render`` asks that worker for a render, by task name, from code that must not render
in its request (the v1 invoice download).
Money formatting and the tax rate come from ``monolithos.pricing``; this module must not import
``order_manager`` (it used to: the circular import is gone, LEGACY.md).
"""

from __future__ import annotations

import threading

import structlog
from celery import current_app
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import router, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from monolithos.models import Invoice
from monolithos.pricing import TAX_RATE, format_money
from observability.metrics import INVOICE_RENDER_SECONDS
from outbox import completion

logger = structlog.get_logger(__name__)

RENDER_PLACES = ("request", "worker")
# By name: the tasks module sits above this one (it imports it).
RENDER_TASK = "monolithos.tasks.render_invoice"

# Loading fontconfig's configuration and fonts is a large part of a small render, so it is done
# once and reused. Once per thread, not per process: Pango font maps must not be used by two
# threads at a time, and the web renders in gunicorn's threads (a worker process has one).
_fonts = threading.local()


def font_configuration() -> FontConfiguration:
    """This thread's WeasyPrint font configuration, created on first use."""
    config: FontConfiguration | None = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def invoice_pdf_name(invoice: Invoice) -> str:
    return f"invoices/{invoice.number}.pdf"


def render_invoice_pdf(invoice: Invoice, *, where: str = "request") -> bytes:
    """The invoice as PDF bytes; the time it took is observed under ``where``."""
    if where not in RENDER_PLACES:
        raise ValueError(f"where must be one of {RENDER_PLACES}, not {where!r}")
    with INVOICE_RENDER_SECONDS.labels(where).time():
        order = invoice.order
        html = render_to_string(
            "monolithos/invoice.html",
            {
                "invoice": invoice,
                "order": order,
                "lines": [
                    {
                        "sku": line.sku,
                        "quantity": line.quantity,
                        "unit_price": format_money(line.unit_price),
                        "line_total": format_money(line.line_total),
                    }
                    for line in order.lines.all()
                ],
                "subtotal": format_money(order.subtotal),
                "discount": format_money(order.discount),
                "shipping": format_money(order.shipping_cost),
                "tax": format_money(order.tax),
                "tax_rate": int(TAX_RATE * 100),
                "total": format_money(order.total),
            },
        )
        pdf: bytes = HTML(string=html).write_pdf(font_config=font_configuration())
    return pdf


def store_invoice_pdf(invoice: Invoice, pdf: bytes) -> None:
    """Store ``pdf`` as the file of ``invoice`` and record that its version is rendered.

    ``pdf`` shows ``invoice.version`` as it was loaded. The invoice's row is locked while the file
    is written, so two renders of one invoice write one after the other, and bytes of an older
    version never replace those of a newer one already recorded. The version is recorded by a
    conditional UPDATE, so it never goes back either (also where the lock is a no-op: SQLite).
    """
    name = invoice_pdf_name(invoice)
    version = invoice.version
    with transaction.atomic(using=router.db_for_write(Invoice)):
        recorded = (
            Invoice.objects.select_for_update()
            .values_list("rendered_version", flat=True)
            .get(pk=invoice.pk)
        )
        if recorded is not None and recorded > version:
            return  # a newer version is already stored: these bytes are stale
        _write_file(invoice.pdf.storage, name, pdf)
        newer = Q(rendered_version__isnull=True) | Q(rendered_version__lt=version)
        if Invoice.objects.filter(newer, pk=invoice.pk).update(pdf=name, rendered_version=version):
            invoice.rendered_version = version
        else:
            # This version was recorded already (its file had been lost): only the name.
            Invoice.objects.filter(pk=invoice.pk).update(pdf=name)
        # In a worker, the outbox message that asked for this render ends with it (ADR 0015).
        completion.done_in_this_transaction()
    invoice.pdf.name = name


def _write_file(storage: Storage, name: str, pdf: bytes, *, attempts: int = 3) -> None:
    """Write ``name``, replacing it: storages never overwrite, they invent a suffix instead."""
    for _ in range(attempts):
        if storage.exists(name):
            storage.delete(name)
        saved = storage.save(name, ContentFile(pdf))
        if saved == name:
            return
        # Another writer saved the name between our delete and our save (only possible where
        # the row lock is a no-op): drop our suffixed copy and replace theirs.
        storage.delete(saved)
    raise RuntimeError(f"could not store {name}: it kept being written by another render")


def invoice_pdf_exists(invoice: Invoice) -> bool:
    name = invoice.pdf.name
    if not name:
        return False
    return invoice.pdf.storage.exists(name)


def render_invoice(invoice_id: int, *, where: str) -> bool:
    """Render and store the PDF the invoice owes; False when there was nothing to do.

    Idempotent: an invoice whose version is rendered and whose file exists is left alone. A lost
    file (of an invoice whose version is recorded) is rendered again. Raises
    ``Invoice.DoesNotExist`` when the invoice is gone.
    """
    invoice = Invoice.objects.select_related("order").get(pk=invoice_id)
    if not invoice.render_pending and invoice_pdf_exists(invoice):
        return False
    store_invoice_pdf(invoice, render_invoice_pdf(invoice, where=where))
    return True


def request_render(invoice: Invoice) -> None:
    """Ask the invoices worker to render the PDF of ``invoice``; never raises.

    Asking twice renders once (``render_invoice`` is idempotent). A broker that cannot be reached
    is logged, not raised: the caller tells its client to come back later either way, and asks
    again when it does.
    """
    try:
        current_app.send_task(RENDER_TASK, kwargs={"invoice_id": invoice.pk})
    except Exception:
        logger.warning("invoice_render_not_enqueued", invoice=invoice.number, exc_info=True)
