"""The strangled routes: what each one is, how its canary is keyed, how its answers compare.

The root URLconf mounts each of these once with both its handlers (``config/urls.py``). Each
comparator's declared differences are the new handler's deliberate ones; the runbook's
deprecation table (docs/runbook.md, Phase 5) lists the same.
"""

from __future__ import annotations

from strangler import errors, keys
from strangler.comparison import (
    BODY,
    STATUS,
    Comparator,
    declared,
    numbers_masked_in,
    without_csrf_tokens,
)
from strangler.routes import Kind, Route

# Orders written twice (the candidate's, rolled back, and the control's) differ in their ids.
ORDER_IDS = frozenset({"id", "number", "invoice"})
NOT_DISPATCHED_YET = ("status", "shipping_status", "tracking_number", "supplier_reference")

PLACE_ORDER = Route(
    name="api_place_order",
    kind=Kind.WRITE,
    key=keys.json_field("customer_email"),
    comparator=Comparator(
        volatile=ORDER_IDS,
        declared=(
            declared(
                "dispatched-by-the-worker",
                "201 before the shipment exists: status placed, shipping_status pending, no "
                "tracking number or supplier reference (legacy: shipped and dispatched, or "
                "placed and dispatch_failed)",
                parts=tuple(f"body.{name}" for name in NOT_DISPATCHED_YET),
                control_status=(201,),
                candidate_status=(201,),
                candidate_values={"status": ("placed",), "shipping_status": ("pending",)},
            ),
        ),
    ),
)

TRACK_ORDER = Route(
    name="api_track_order",
    kind=Kind.READ,
    key=keys.url_kwarg("order_id"),
    comparator=Comparator(
        # Two calls to the supplier: when one of them fails, its side says "unknown".
        unknowable={"body.supplier_status": ("unknown",)},
    ),
    fallback_to_legacy=True,
)

SHIP_ORDER = Route(
    name="api_ship_order",
    kind=Kind.WRITE,
    key=keys.url_kwarg("order_id"),
    comparator=Comparator(
        declared=(
            declared(
                "dispatch-by-the-worker",
                "202 with the order as it is, its dispatch handed to the logistics worker "
                "(legacy: 200 with the order dispatched)",
                parts=(STATUS, *(f"body.{name}" for name in NOT_DISPATCHED_YET)),
                control_status=(200,),
                candidate_status=(202,),
            ),
            declared(
                "supplier-failures-are-the-workers",
                "202: a supplier failure or outage is retried by the worker, not answered "
                "(legacy: 502 with the supplier's error)",
                parts=(STATUS, BODY),
                control_status=(502,),
                candidate_status=(202,),
            ),
        ),
    ),
)

INVOICE_PDF = Route(
    name="api_invoice_pdf",
    # A read, but its new handler hands a lost file's render to the worker: isolated in shadow.
    kind=Kind.WRITE,
    key=keys.url_kwarg("order_id"),
    comparator=Comparator(
        headers=("Content-Type", "Content-Disposition", "Retry-After"),
        declared=(
            declared(
                "never-rendered-in-the-request",
                "202 with Retry-After while the worker renders a lost file again (legacy: "
                "renders it in the request and answers 200 with the PDF)",
                parts=(
                    STATUS,
                    BODY,
                    "header.Content-Type",
                    "header.Content-Disposition",
                    "header.Retry-After",
                ),
                control_status=(200,),
                candidate_status=(202,),
            ),
        ),
    ),
)

ORDER_FORM = Route(
    name="order_create",
    kind=Kind.WRITE,
    key=keys.authenticated_user(),
    comparator=Comparator(
        headers=("Content-Type", "Location"),
        normalizers=(without_csrf_tokens, numbers_masked_in("Location")),
    ),
    error=errors.html_error,
)
