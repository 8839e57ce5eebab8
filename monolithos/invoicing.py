# Invoice rendering, still inside the request (LEGACY.md). It takes money formatting and the
# tax rate from monolithos.pricing; it used to import OrderManager for them, which imported
# this module back: the circular import is gone.
from django.template.loader import render_to_string
from weasyprint import HTML

from monolithos.pricing import TAX_RATE, format_money


def render_invoice_pdf(invoice):
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
    return HTML(string=html).write_pdf()
