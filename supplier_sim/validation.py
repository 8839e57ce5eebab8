"""Validation of what clients send: dispatch bodies, quote queries and chaos updates.

Every check collects all field problems before failing, so one 400 tells the client everything
that is wrong with its request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeGuard

from supplier_sim.config import ChaosConfig, hang_seconds_problem, rate_problem
from supplier_sim.models import DispatchItem, DispatchRequest

MAX_IDEMPOTENCY_KEY_LENGTH = 255
_DIGITS = frozenset("0123456789")


class InvalidRequest(ValueError):
    """The request is well-formed JSON but some fields are unacceptable."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(f"invalid fields: {sorted(fields)}")
        self.fields = fields


def _non_empty_str(
    body: Mapping[str, Any], name: str, errors: dict[str, str], label: str | None = None
) -> str:
    value = body.get(name)
    if name not in body:
        errors[label or name] = "is required"
    elif not isinstance(value, str) or not value.strip():
        errors[label or name] = "must be a non-empty string"
    else:
        return value
    return ""


def _positive_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, and `true` is not a quantity.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _items(body: Mapping[str, Any], errors: dict[str, str]) -> tuple[DispatchItem, ...]:
    raw = body.get("items")
    if "items" not in body:
        errors["items"] = "is required"
        return ()
    if not isinstance(raw, list) or not raw:
        errors["items"] = "must be a non-empty list"
        return ()
    items: list[DispatchItem] = []
    for index, entry in enumerate(raw):
        where = f"items[{index}]"
        if not isinstance(entry, dict):
            errors[where] = "must be an object"
            continue
        problems_before = len(errors)
        sku = _non_empty_str(entry, "sku", errors, label=f"{where}.sku")
        quantity = entry.get("quantity")
        if "quantity" not in entry:
            errors[f"{where}.quantity"] = "is required"
        elif not _positive_int(quantity):
            errors[f"{where}.quantity"] = "must be an integer >= 1"
        elif len(errors) == problems_before:
            items.append(DispatchItem(sku=sku, quantity=quantity))
    return tuple(items)


def parse_dispatch_request(body: Any, idempotency_key: str | None) -> DispatchRequest:
    errors: dict[str, str] = {}
    if idempotency_key is not None and not idempotency_key:
        errors["Idempotency-Key"] = "must not be empty"
    elif idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        errors["Idempotency-Key"] = f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
    if not isinstance(body, dict):
        errors["body"] = "must be a JSON object"
        raise InvalidRequest(errors)
    order_ref = _non_empty_str(body, "order_ref", errors)
    destination = _non_empty_str(body, "destination", errors)
    items = _items(body, errors)
    if errors:
        raise InvalidRequest(errors)
    return DispatchRequest(order_ref=order_ref, destination=destination, items=items)


def parse_quote_query(query: Mapping[str, str]) -> tuple[str, int]:
    errors: dict[str, str] = {}
    sku = query.get("sku", "")
    if "sku" not in query:
        errors["sku"] = "is required"
    elif not sku.strip():
        errors["sku"] = "must be a non-empty string"
    raw_quantity = query.get("quantity", "1")
    # int() alone would also accept " 3", "+3", "3_000" and non-ASCII digits.
    quantity = int(raw_quantity) if raw_quantity and set(raw_quantity) <= _DIGITS else 0
    if quantity < 1:
        errors["quantity"] = "must be an integer >= 1"
    if errors:
        raise InvalidRequest(errors)
    return sku, quantity


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def parse_chaos_update(body: Any, current: ChaosConfig) -> tuple[ChaosConfig, bool]:
    """The updated config, and whether the body asked for the RNG to be re-seeded."""
    if not isinstance(body, dict):
        raise InvalidRequest({"body": "must be a JSON object"})
    known = ChaosConfig().to_json().keys()
    errors = {name: "unknown field" for name in body if name not in known}
    changes: dict[str, Any] = {}
    checks = (
        ("failure_rate", rate_problem),
        ("hang_rate", rate_problem),
        ("hang_seconds", hang_seconds_problem),
    )
    for name, problem_of in checks:
        if name not in body:
            continue
        number = _as_float(body[name])
        if number is None:
            errors[name] = "must be a number"
        elif problem := problem_of(number):
            errors[name] = problem
        else:
            changes[name] = number
    if "seed" in body:
        seed = body["seed"]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            errors["seed"] = "must be an integer or null"
        else:
            changes["seed"] = seed
    if errors:
        raise InvalidRequest(errors)
    return replace(current, **changes), "seed" in body
