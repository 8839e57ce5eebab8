"""The notification templates render the mails byte for byte as the code they replaced did.

The expected strings are what the old ``send_mail`` calls wrote (``monolithos/mailer.py``
and ``logistics/adapters/notifier.py`` before the notifications app), kept here as the golden copy.
No database: rendering is pure.
"""

from __future__ import annotations

import pytest

from notifications.rendering import render_mail

CONFIRMATION = {
    "order_number": "ORD-000042",
    "shipping_name": "Ada Lovelace",
    "lines": "  2 x PALLET  EUR 37.00\n  1 x BOX-S  EUR 0.90",
    "total": "EUR 49.35",
}


def test_the_order_confirmation_is_the_legacy_mail():
    mail = render_mail("order_confirmation", CONFIRMATION)

    assert mail.subject == "Your order ORD-000042"
    assert mail.text == (
        "Hello Ada Lovelace,\n\nthank you for your order ORD-000042.\n\n"
        "  2 x PALLET  EUR 37.00\n  1 x BOX-S  EUR 0.90\n\nTotal: EUR 49.35\n"
    )


def test_the_cancellation_is_the_legacy_mail():
    mail = render_mail("order_cancelled", {"order_number": "ORD-000042", "shipping_name": "Ada"})

    assert mail.subject == "Your order ORD-000042 has been cancelled"
    assert mail.text == "Hello Ada,\n\nyour order ORD-000042 has been cancelled.\n"


def test_the_sales_team_mail_is_the_legacy_mail_without_a_final_newline():
    mail = render_mail(
        "sales_new_order", {"customer_email": "ada@example.com", "total": "EUR 49.35"}
    )

    assert mail.subject == "New order for ada@example.com"
    assert mail.text == "A new order was placed by ada@example.com: total EUR 49.35."


def test_the_delivery_mail_is_the_logistics_notifiers_mail():
    mail = render_mail("shipment_delivered", {"order_ref": "ORD-000042", "tracking_number": "TN-7"})

    assert mail.subject == "Your order ORD-000042 has been delivered"
    assert mail.text == (
        "Hello,\n\nyour order ORD-000042 (tracking number TN-7) has been delivered.\n"
    )


def test_text_parts_are_not_html_escaped_and_html_parts_are():
    mail = render_mail("order_confirmation", {**CONFIRMATION, "shipping_name": "Tom & Jerry <Ltd>"})

    assert mail.text.startswith("Hello Tom & Jerry <Ltd>,\n")
    assert "Tom &amp; Jerry &lt;Ltd&gt;" in mail.html
    assert "<pre>  2 x PALLET  EUR 37.00\n  1 x BOX-S  EUR 0.90</pre>" in mail.html


@pytest.mark.parametrize("kind", ["order_shipped", "", "../order_confirmation", "Order"])
def test_a_kind_without_templates_is_refused(kind):
    with pytest.raises(ValueError, match="unknown notification kind"):
        render_mail(kind, CONFIRMATION)


def test_a_missing_context_value_is_refused_rather_than_mailed_empty():
    with pytest.raises(ValueError, match="needs context lines, total"):
        render_mail("order_confirmation", {"order_number": "1", "shipping_name": "Ada"})


def test_a_subject_that_would_span_two_header_lines_is_refused():
    with pytest.raises(ValueError, match="one line"):
        render_mail("sales_new_order", {"customer_email": "a@example.com\nBcc: x", "total": "1"})
