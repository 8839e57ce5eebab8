# Invoice rendering. Imports OrderManager for its money formatting and tax rate, while
# OrderManager imports this module back inside render_invoice: a circular import
# (LEGACY.md).
from django.template.loader import render_to_string
from weasyprint import HTML

from monolithos.order_manager import OrderManager


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
                    "unit_price": OrderManager.format_money(line.unit_price),
                    "line_total": OrderManager.format_money(line.line_total),
                }
                for line in order.lines.all()
            ],
            "subtotal": OrderManager.format_money(order.subtotal),
            "discount": OrderManager.format_money(order.discount),
            "shipping": OrderManager.format_money(order.shipping_cost),
            "tax": OrderManager.format_money(order.tax),
            "tax_rate": int(OrderManager.TAX_RATE * 100),
            "total": OrderManager.format_money(order.total),
        },
    )
    return HTML(string=html).write_pdf()
