"""Shadow sampling: a route in shadow mode runs its candidate for the routing keys in its sample
(Scientist's ``run_if``), the same keys every time; the others are served by legacy alone and
counted as ``unsampled``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from prometheus_client import REGISTRY

from strangler.facade import StrangledView
from strangler.hashing import bucket
from strangler.testing import override_modes
from tests.integration.strangler.toys import READ, WRITE, Handler

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

factory = RequestFactory()
TEN_PERCENT = 1_000  # basis points


def results(route: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "monolithos_strangler_shadow_results_total", {"route": route, "result": result}
    )
    return value or 0.0


def keys(route: str, *, inside: bool, count: int) -> list[str]:
    """Routing keys inside (or outside) a 10 % sample of ``route`` (override_modes salts each
    route with its name)."""
    found = [str(n) for n in range(10_000) if (bucket(route, str(n)) < TEN_PERCENT) == inside]
    return found[:count]


def get(view: StrangledView, item: str) -> Any:
    request = factory.get(f"/items/{item}/")
    request.user = AnonymousUser()
    return view(request, item=item)


def post(view: StrangledView, email: str) -> Any:
    request = factory.post("/items/", json.dumps({"customer_email": email}), "application/json")
    request.user = AnonymousUser()
    return view(request)


def test_a_read_outside_the_sample_runs_no_candidate_and_is_counted_unsampled():
    legacy, new = Handler("legacy"), Handler("new")
    view = StrangledView(READ, legacy=legacy, new=new)
    outside = keys("toy_read", inside=False, count=20)
    before = results("toy_read", "unsampled")

    with override_modes({"toy_read": ("shadow", "10")}):
        answers = [json.loads(get(view, key).content)["side"] for key in outside]

    assert answers == ["legacy"] * 20
    assert len(legacy.calls) == 20
    assert new.calls == []
    assert results("toy_read", "unsampled") == before + 20


def test_a_write_outside_the_sample_is_not_isolated_and_runs_no_candidate(monkeypatch):
    from strangler import isolation

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an unsampled write opens no rolled-back transaction")

    monkeypatch.setattr(isolation, "isolated", never)
    legacy, new = Handler("legacy"), Handler("new")
    view = StrangledView(WRITE, legacy=legacy, new=new)
    email = next(
        email
        for email in (f"customer{n}@example.com" for n in range(100))
        if bucket("toy_write", email) >= TEN_PERCENT
    )

    with override_modes({"toy_write": ("shadow", "10")}):
        post(view, email)

    assert (len(legacy.calls), new.calls) == (1, [])


def test_the_keys_in_the_sample_are_compared_every_time_and_the_others_never():
    legacy, new = Handler("legacy"), Handler("new")
    view = StrangledView(READ, legacy=legacy, new=new)
    inside = keys("toy_read", inside=True, count=5)
    outside = keys("toy_read", inside=False, count=5)

    with override_modes({"toy_read": ("shadow", "10")}):
        for _ in range(3):
            for key in inside + outside:
                get(view, key)

    compared = [call["kwargs"]["item"] for call in new.calls]
    assert sorted(compared) == sorted(inside * 3)


def test_about_the_sample_of_many_keys_is_compared():
    legacy, new = Handler("legacy"), Handler("new")
    view = StrangledView(READ, legacy=legacy, new=new)

    with override_modes({"toy_read": ("shadow", "10")}):
        for n in range(5_000):
            get(view, f"order-{n}")

    assert abs(100 * len(new.calls) / 5_000 - 10) <= 1.0


def test_a_full_sample_compares_every_request_as_shadow_mode_always_did():
    legacy, new = Handler("legacy"), Handler("new")
    view = StrangledView(READ, legacy=legacy, new=new)

    with override_modes({"toy_read": "shadow"}):
        for n in range(50):
            get(view, str(n))

    assert len(new.calls) == 50


@pytest.mark.urls("tests.integration.strangler.toy_urls")
def test_an_unsampled_request_says_so_in_its_final_log_line_and_logs_no_comparison(
    client, log_lines
):
    [key] = keys("toy_read", inside=False, count=1)

    with override_modes({"toy_read": ("shadow", "10")}):
        response = client.get(f"/toy/read/{key}/")

    assert response.json()["side"] == "legacy"
    [line] = log_lines.events("request_finished")
    assert (line["side"], line["shadow"]) == ("legacy", "unsampled")
    assert log_lines.events("strangler_shadow") == []


def test_the_metrics_show_each_shadowed_routes_sample(client):
    modes: dict[str, str | tuple[str, str]] = {
        "api_track_order": ("shadow", "12.5"),
        "api_ship_order": "shadow",
        "api_place_order": ("canary", "50"),
    }

    with override_modes(modes):
        body = client.get("/metrics").content.decode()

    assert 'monolithos_strangler_route_sample_percent{route="api_track_order"} 12.5' in body
    assert 'monolithos_strangler_route_sample_percent{route="api_ship_order"} 100.0' in body
    assert 'monolithos_strangler_route_sample_percent{route="api_place_order"} 0.0' in body
