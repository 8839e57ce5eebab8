"""The body of POST /api/v1/orders/ (the schema's ``NewOrder``) read without a serializer.

The accepting request is the intake's hot path (docs/adr/0025), and DRF's serializer round
trip was its largest remaining cost. ``read`` takes a body it can prove valid and returns the
payload ``OrderAcceptApi.InputSerializer`` would have validated, key for key; for anything else
it returns None and the view asks the serializer, whose field errors stay the API's contract.
So a body is never refused here: this module can only let a valid body through faster, and a
test holds its verdicts and payloads to the serializer's on a table of bodies. It must follow
the serializer's rules exactly where it accepts: DRF's ``CharField`` strips whitespace before
its validators run, refuses a blank value and counts the length of what it stripped;
``httpapi.fields`` takes JSON as it is typed; the limits are ``placement.LIMITS``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from httpapi.text import text_problem
from monolithos.placement import LIMITS


def _text(value: object, limit: int, *, multi_line: bool = False, blank: bool = False) -> str:
    """The stripped text DRF's ``StrictCharField`` would keep; ValueError where it may refuse."""
    if type(value) is not str:
        raise ValueError
    stripped = value.strip()
    if not stripped and not blank:
        raise ValueError
    if len(stripped) > limit or text_problem(stripped, multi_line=multi_line) is not None:
        raise ValueError
    return stripped


def _email(value: object) -> str:
    email = _text(value, LIMITS.max_email_length)
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError from None
    return email


def _quantity(value: object) -> int:
    # bool is an int to Python, never to the schema.
    if type(value) is not int or not 1 <= value <= LIMITS.max_quantity:
        raise ValueError
    return value


def _lines(value: object) -> list[dict[str, Any]]:
    if type(value) is not list or not 1 <= len(value) <= LIMITS.max_lines:
        raise ValueError
    lines = []
    for line in value:
        if type(line) is not dict:
            raise ValueError
        lines.append(
            {
                "sku": _text(line.get("sku"), LIMITS.max_sku_length),
                "quantity": _quantity(line.get("quantity")),
            }
        )
    return lines


def read(data: object) -> dict[str, Any] | None:
    """The validated payload of a body that is certainly valid, or None: ask the serializer."""
    if type(data) is not dict:
        return None
    try:
        return {
            "customer_name": _text(data.get("customer_name"), LIMITS.max_name_length),
            "customer_email": _email(data.get("customer_email")),
            "shipping_address": _text(
                data.get("shipping_address"), LIMITS.max_address_length, multi_line=True
            ),
            "discount_code": _text(
                data.get("discount_code", ""), LIMITS.max_discount_code_length, blank=True
            ),
            "lines": _lines(data.get("lines")),
        }
    except ValueError:
        return None
