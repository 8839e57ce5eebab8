"""The facade picks a handler per request: by mode, sticky canary, a staff header, the switch."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY

from strangler.facade import StrangledView
from strangler.testing import override_modes
from strangler.urls import strangled_path
from tests.factories import StaffUserFactory
from tests.integration.strangler.toys import READ, WRITE, Handler, not_found

factory = RequestFactory()


@pytest.fixture
def legacy() -> Handler:
    return Handler("legacy")


@pytest.fixture
def new() -> Handler:
    return Handler("new")


def get(view: StrangledView, item: str = "7", user=None, **headers):
    request = factory.get(f"/items/{item}/", headers=headers)
    request.user = user or AnonymousUser()
    return view(request, item=item)


def post(view: StrangledView, email: str, user=None, **headers):
    request = factory.post(
        "/items/", json.dumps({"customer_email": email}), "application/json", headers=headers
    )
    request.user = user or AnonymousUser()
    return view(request)


def side(response) -> str:
    return str(json.loads(response.content)["side"])


def served(route: str, side: str, status: int) -> float:
    value = REGISTRY.get_sample_value(
        "monolithos_strangler_requests_total",
        {"route": route, "side": side, "status": str(status)},
    )
    return value or 0.0


@pytest.mark.parametrize(("mode", "expected"), [("legacy", "legacy"), ("new", "new")])
def test_legacy_and_new_modes_send_every_request_to_their_handler(legacy, new, mode, expected):
    view = StrangledView(READ, legacy=legacy, new=new)
    before = served("toy_read", expected, 200)

    with override_modes({"toy_read": mode}):
        answers = {side(get(view, str(item))) for item in range(50)}

    assert answers == {expected}
    assert served("toy_read", expected, 200) == before + 50


def test_a_route_never_set_is_served_by_legacy(legacy, new):
    view = StrangledView(READ, legacy=legacy, new=new)

    with override_modes({}):
        assert side(get(view)) == "legacy"
    assert new.calls == []


def test_the_kill_switch_sends_a_route_in_new_mode_to_legacy(legacy, new):
    view = StrangledView(READ, legacy=legacy, new=new)

    with override_modes({"toy_read": "new"}, killed=True):
        assert side(get(view)) == "legacy"


def test_a_canary_is_sticky_per_routing_key(legacy, new):
    view = StrangledView(WRITE, legacy=legacy, new=new)
    emails = [f"customer{n}@example.com" for n in range(400)]

    with override_modes({"toy_write": ("canary", "50")}):
        first = {email: side(post(view, email)) for email in emails}
        again = {email: side(post(view, email.upper())) for email in emails}

    assert first == again  # the same customer, however spelt, always takes the same side
    assert 150 < list(first.values()).count("new") < 250


def test_a_growing_canary_only_moves_keys_to_new(legacy, new):
    view = StrangledView(READ, legacy=legacy, new=new)
    on_new: list[set[str]] = []
    for percent in ("1", "10", "50", "100"):
        with override_modes({"toy_read": ("canary", percent)}):
            on_new.append({str(n) for n in range(500) if side(get(view, str(n))) == "new"})

    assert on_new[0] <= on_new[1] <= on_new[2] <= on_new[3]
    assert len(on_new[3]) == 500


def test_a_canary_request_without_a_routing_key_goes_to_legacy(legacy, new):
    view = StrangledView(WRITE, legacy=legacy, new=new)
    request = factory.post("/items/", "not json", "application/json")
    request.user = AnonymousUser()

    with override_modes({"toy_write": ("canary", "100")}):
        assert side(view(request)) == "legacy"


@pytest.mark.django_db
@pytest.mark.parametrize("forced", ["new", "legacy", "NEW"])
def test_staff_may_force_a_side_for_one_request(legacy, new, forced):
    view = StrangledView(READ, legacy=legacy, new=new)
    mode = "legacy" if forced.lower() == "new" else "new"

    with override_modes({"toy_read": mode}):
        response = get(view, user=StaffUserFactory(), X_Strangler_Side=forced)

    assert side(response) == forced.lower()


def test_anyone_else_forcing_a_side_is_ignored(legacy, new):
    view = StrangledView(READ, legacy=legacy, new=new)

    with override_modes({"toy_read": "legacy"}):
        response = get(view, X_Strangler_Side="new")

    assert side(response) == "legacy"


@pytest.mark.django_db
def test_staff_forcing_an_unknown_side_gets_a_400(legacy, new):
    view = StrangledView(READ, legacy=legacy, new=new)

    with override_modes({"toy_read": "legacy"}):
        response = get(view, user=StaffUserFactory(), X_Strangler_Side="sideways")

    assert response.status_code == 400
    assert json.loads(response.content) == {
        "error": "X-Strangler-Side must be legacy or new, not 'sideways'"
    }
    assert legacy.calls == new.calls == []


def failures(route: str, fallback: str) -> float:
    value = REGISTRY.get_sample_value(
        "monolithos_strangler_new_handler_errors_total", {"route": route, "fallback": fallback}
    )
    return value or 0.0


def test_a_raising_new_write_answers_the_routes_error_and_runs_nothing_else(legacy, log_lines):
    new = Handler("new", raises=RuntimeError("boom"))
    view = StrangledView(WRITE, legacy=legacy, new=new)
    before = failures("toy_write", "false")

    with override_modes({"toy_write": "new"}):
        response = post(view, "ada@example.com")

    assert response.status_code == 500
    assert json.loads(response.content)["error"].startswith("internal error (request ")
    assert legacy.calls == []  # a write never runs twice
    assert failures("toy_write", "false") == before + 1
    [line] = log_lines.events("strangler_new_handler_failed")
    assert (line["strangled_route"], line["side"], line["fallback"]) == ("toy_write", "new", False)
    assert "RuntimeError: boom" in line["exception"]


def test_a_raising_new_read_falls_back_to_legacy_when_the_route_says_so(legacy):
    new = Handler("new", raises=RuntimeError("boom"))
    view = StrangledView(READ, legacy=legacy, new=new)
    before = failures("toy_read", "true")

    with override_modes({"toy_read": "new"}):
        response = get(view)

    assert side(response) == "legacy"
    assert failures("toy_read", "true") == before + 1


def test_django_control_flow_exceptions_pass_through_the_facade(legacy):
    view = StrangledView(READ, legacy=legacy, new=not_found)

    with override_modes({"toy_read": "new"}), pytest.raises(Http404):
        get(view)


def test_the_facade_is_csrf_exempt_exactly_when_both_handlers_are(legacy, new):
    exempt = StrangledView(WRITE, legacy=csrf_exempt(legacy), new=csrf_exempt(new))
    protected = StrangledView(WRITE, legacy=legacy, new=new)

    assert exempt.csrf_exempt is True
    assert protected.csrf_exempt is False
    with pytest.raises(ImproperlyConfigured, match="agree on CSRF"):
        strangled_path("items/", WRITE, legacy=csrf_exempt(legacy), new=new)


def test_the_legacy_url_names_still_reverse_to_the_strangled_routes():
    assert reverse("monolithos:api_place_order") == "/api/orders/"
    assert reverse("monolithos:api_track_order", args=[7]) == "/api/orders/7/track/"
    assert reverse("monolithos:api_ship_order", args=[7]) == "/api/orders/7/ship/"
    assert reverse("monolithos:api_invoice_pdf", args=[7]) == "/api/orders/7/invoice.pdf"
    assert reverse("monolithos:order_create") == "/orders/new/"


def test_a_route_is_registered_once(legacy, new):
    from strangler import registry
    from strangler.routes import Route

    registry.routes()
    twin = Route(name="api_place_order", kind=READ.kind, key=READ.key)

    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        strangled_path("elsewhere/", twin, legacy=legacy, new=new)
