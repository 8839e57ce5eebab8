"""The supplier's endpoints as plain functions from a parsed call to a reply, and their routes.

Socket handling, chaos, hangs and logging belong to server.py; nothing here knows about them,
which keeps each endpoint's contract readable in one place.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from supplier_sim import quotes
from supplier_sim.state import IdempotencyConflict, SupplierState
from supplier_sim.validation import (
    InvalidRequest,
    parse_chaos_update,
    parse_dispatch_request,
    parse_quote_query,
)


@dataclass(frozen=True)
class Call:
    state: SupplierState
    params: tuple[str, ...]
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased
    body: Any
    body_is_json: bool


@dataclass(frozen=True)
class Reply:
    status: int
    payload: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


Endpoint = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: Mapping[str, Endpoint]
    # Supplier routes are the simulated third-party API: logged and subject to chaos. The rest
    # are test aids that must stay reliable to be useful.
    supplier: bool
    summary: str = ""

    @property
    def path(self) -> str:
        """The route as people write it: ``/v1/dispatches/{reference}``."""
        return self.pattern.pattern.replace("([^/]+)", "{reference}")


def error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, {"error": message}, headers)


def _invalid(exc: InvalidRequest) -> Reply:
    return Reply(400, {"error": "invalid request", "fields": exc.fields})


def health(call: Call) -> Reply:
    return Reply(200, {"status": "ok"})


def create_dispatch(call: Call) -> Reply:
    if not call.body_is_json:
        return error(400, "malformed JSON")
    key = call.headers.get("idempotency-key")
    try:
        request = parse_dispatch_request(call.body, key)
    except InvalidRequest as exc:
        return _invalid(exc)
    # Canonical JSON, so a retry that merely reorders keys or whitespace counts as identical.
    canonical = json.dumps(call.body, sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    try:
        dispatch, created = call.state.create_dispatch(
            request, fingerprint=fingerprint, idempotency_key=key
        )
    except IdempotencyConflict:
        return error(422, "idempotency key reused with a different request")
    if created:
        return Reply(201, dispatch.to_json())
    return Reply(200, dispatch.to_json(), (("Idempotent-Replayed", "true"),))


def get_dispatch(call: Call) -> Reply:
    dispatch = call.state.get_dispatch(unquote(call.params[0]))
    if dispatch is None:
        return error(404, "dispatch not found")
    return Reply(200, dispatch.to_json())


def get_quote(call: Call) -> Reply:
    try:
        sku, quantity = parse_quote_query(call.query)
    except InvalidRequest as exc:
        return _invalid(exc)
    return Reply(200, quotes.quote(sku, quantity))


def get_ledger(call: Call) -> Reply:
    dispatches = [dispatch.to_json() for dispatch in call.state.ledger()]
    return Reply(200, {"count": len(dispatches), "dispatches": dispatches})


def get_chaos(call: Call) -> Reply:
    return Reply(200, call.state.chaos.to_json())


def put_chaos(call: Call) -> Reply:
    if not call.body_is_json:
        return error(400, "malformed JSON")
    try:
        chaos, reseed = parse_chaos_update(call.body, call.state.chaos)
    except InvalidRequest as exc:
        return _invalid(exc)
    call.state.set_chaos(chaos, reseed=reseed)
    return Reply(200, chaos.to_json())


def get_requests(call: Call) -> Reply:
    requests = call.state.requests()
    return Reply(200, {"count": len(requests), "requests": requests})


def reset(call: Call) -> Reply:
    call.state.reset()
    return Reply(200, {"status": "reset"})


def index(call: Call) -> Reply:
    """What the simulator serves, for whoever opens its root in a browser."""
    return Reply(
        200,
        {
            "service": "Supplier Protocol API (simulator)",
            "endpoints": [
                {
                    "methods": sorted(route.methods),
                    "path": route.path,
                    "summary": route.summary,
                    "chaos": route.supplier,
                }
                for route in ROUTES
                if route.summary
            ],
        },
    )


ROUTES: tuple[Route, ...] = (
    Route(re.compile(r"/"), {"GET": index}, supplier=False),
    Route(re.compile(r"/health"), {"GET": health}, False, "liveness"),
    Route(
        re.compile(r"/v1/dispatches"),
        {"POST": create_dispatch},
        True,
        "dispatch a shipment (Idempotency-Key header)",
    ),
    Route(
        re.compile(r"/v1/dispatches/([^/]+)"), {"GET": get_dispatch}, True, "a dispatch's status"
    ),
    Route(re.compile(r"/v1/quotes"), {"GET": get_quote}, True, "quote ?sku=&quantity="),
    Route(re.compile(r"/v1/ledger"), {"GET": get_ledger}, False, "every dispatch accepted"),
    Route(
        re.compile(r"/_admin/chaos"),
        {"GET": get_chaos, "PUT": put_chaos},
        False,
        "failure and hang rates (PUT to change them)",
    ),
    Route(re.compile(r"/_admin/requests"), {"GET": get_requests}, False, "requests received"),
    Route(re.compile(r"/_admin/reset"), {"POST": reset}, False, "forget every dispatch"),
)


def match(path: str) -> tuple[Route, tuple[str, ...]] | None:
    for route in ROUTES:
        if found := route.pattern.fullmatch(path):
            return route, found.groups()
    return None
