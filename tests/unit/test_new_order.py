"""The intake's body read without the serializer agrees with the serializer, body for body.

``monolithos.new_order.read`` may only let through what ``OrderAcceptApi.InputSerializer``
validates, with the same payload; what it leaves to the serializer is answered with the
serializer's field errors. A table pins the cases the API's tests use, a property the rest.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from monolithos import new_order
from monolithos.api import OrderAcceptApi
from monolithos.placement import LIMITS

VALID: dict[str, Any] = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": "12 Analytical Row\nLondon",
    "lines": [{"sku": "BOX-S", "quantity": 2}],
}
MISSING = object()


def body(**overrides: Any) -> dict[str, Any]:
    merged = {**VALID, **overrides}
    return {name: value for name, value in merged.items() if value is not MISSING}


def line(quantity: Any = 1, sku: Any = "BOX-S", **more: Any) -> dict[str, Any]:
    return {"lines": [{"sku": sku, "quantity": quantity, **more}]}


def serializer_verdict(data: Any) -> dict[str, Any] | None:
    """What the view did with a body before: the serializer's payload, or None for a 400."""
    serializer = OrderAcceptApi.InputSerializer(data=data)
    if not serializer.is_valid():
        return None
    payload = dict(serializer.validated_data)
    payload["lines"] = [dict(each) for each in payload["lines"]]
    return payload


ACCEPTED = [
    VALID,
    body(discount_code="SPRING"),
    body(discount_code=""),
    body(discount_code="   "),
    body(customer_name="  Ada  ", customer_email=" ada@example.com\t"),
    body(customer_name="Ada\x1f"),  # str.strip takes the unit separator, as DRF does
    body(shipping_address="12 Analytical Row\r\n\tLondon"),
    body(customer_name="x" * LIMITS.max_name_length),
    body(customer_name=" " + "x" * LIMITS.max_name_length + " "),  # counted once stripped
    body(shipping_address="x" * LIMITS.max_address_length),
    body(customer_name="Ada Lovelace \u00e9\u4e2d\U0001f600"),
    body(unknown_field={"any": "thing"}),
    body(**line(LIMITS.max_quantity)),
    body(**line(1, sku="x" * LIMITS.max_sku_length)),
    body(**line(1, note="ignored")),
    body(lines=[{"sku": f"SKU-{n}", "quantity": 1} for n in range(LIMITS.max_lines)]),
]

REFUSED = [
    body(**line("3")),
    body(**line(3.0)),
    body(**line(True)),
    body(**line(0)),
    body(**line(-1)),
    body(**line(LIMITS.max_quantity + 1)),
    body(**line(None)),
    body(**line(sku=12)),
    body(**line(sku="")),
    body(**line(sku=" ")),
    body(**line(sku="BOX\x01")),
    body(**line(sku="x" * (LIMITS.max_sku_length + 1))),
    body(lines=[{"sku": "BOX-S"}]),
    body(lines=[{"quantity": 1}]),
    body(lines=["BOX-S"]),
    body(lines=[None]),
    body(lines=[]),
    body(lines={"sku": "BOX-S", "quantity": 1}),
    body(lines="BOX-S"),
    body(lines=None),
    body(lines=[{"sku": f"SKU-{n}", "quantity": 1} for n in range(LIMITS.max_lines + 1)]),
    body(lines=MISSING),
    body(customer_name=42),
    body(customer_name=4.2),
    body(customer_name=True),
    body(customer_name=None),
    body(customer_name=["Ada"]),
    body(customer_name=""),
    body(customer_name="   "),
    body(customer_name=MISSING),
    body(customer_name="Ada\x1b[2J"),
    body(customer_name="Ada\nLovelace"),
    body(customer_name="Ada\x00"),
    body(customer_name="Ada\x85Lovelace"),
    body(customer_name="Ada\ud800"),
    body(customer_name="x" * (LIMITS.max_name_length + 1)),
    body(customer_email=42),
    body(customer_email=""),
    body(customer_email="not an email"),
    body(customer_email="ada@"),
    body(customer_email='"\x01"@example.com'),
    body(customer_email="a" * LIMITS.max_email_length + "@example.com"),
    body(customer_email=MISSING),
    body(shipping_address="1 Row\x07"),
    body(shipping_address="1 Row\x0bLondon"),
    body(shipping_address="x" * (LIMITS.max_address_length + 1)),
    body(shipping_address=MISSING),
    body(discount_code=None),
    body(discount_code=5),
    body(discount_code="x" * (LIMITS.max_discount_code_length + 1)),
    body(discount_code="SPRING\x01"),
    {},
    [],
    [VALID],
    "an order",
    None,
    42,
]


@pytest.mark.parametrize("data", ACCEPTED)
def test_a_valid_body_is_read_as_the_serializer_validates_it(data: Any) -> None:
    expected = serializer_verdict(data)

    assert expected is not None
    assert new_order.read(data) == expected
    assert list(new_order.read(data) or {}) == list(expected)  # the key order, too


@pytest.mark.parametrize("data", REFUSED)
def test_an_invalid_body_is_left_to_the_serializer(data: Any) -> None:
    assert serializer_verdict(data) is None
    assert new_order.read(data) is None


# Whitespace str.strip takes, control characters, a lone surrogate, an email's parts.
EDGES = " \t\n\r\x00\x01\x1f\x7f\x85\xa0\u2028\ud800aZ@."
TEXT = st.one_of(
    st.text(max_size=8),
    st.text(alphabet=st.sampled_from(EDGES), max_size=6),
    st.sampled_from(["Ada", " Ada ", "ada@example.com", "x" * 201, "x" * 32, "x" * 33]),
)
VALUES = st.one_of(
    TEXT,
    st.integers(min_value=-2, max_value=LIMITS.max_quantity + 2),
    st.floats(allow_nan=False, max_value=1e6, min_value=-1e6),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
LINES = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={"sku": st.one_of(TEXT, VALUES), "quantity": VALUES, "extra": VALUES},
        ),
        max_size=3,
    ),
    VALUES,
)
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "customer_name": st.one_of(st.just("Ada"), VALUES),
        "customer_email": st.one_of(st.just("ada@example.com"), VALUES),
        "shipping_address": st.one_of(st.just("1 Row"), VALUES),
        "discount_code": st.one_of(st.just(""), VALUES),
        "lines": st.one_of(st.just([{"sku": "BOX-S", "quantity": 1}]), LINES),
        "other": VALUES,
    },
)


@given(data=BODIES)
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_body_read_without_the_serializer_is_one_it_validates_alike(
    data: dict[str, Any],
) -> None:
    read = new_order.read(data)

    if read is not None:
        assert read == serializer_verdict(data)
