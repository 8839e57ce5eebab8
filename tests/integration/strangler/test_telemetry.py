"""Telemetry: the final log line names the route and the side; metrics by route, side and
status; the mode, the percentage and the kill switch on /metrics."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from strangler.testing import override_modes
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

TRACK = "/api/orders/999999/track/"  # unknown: both sides answer 404 without the supplier


def final(log_lines) -> dict:
    [line] = log_lines.events("request_finished")
    return dict(line)


def requests_served(side: str, status: str) -> float:
    labels = {"route": "api_track_order", "side": side, "status": status}
    return REGISTRY.get_sample_value("monolithos_strangler_requests_total", labels) or 0.0


@pytest.mark.parametrize(
    ("modes", "side"),
    [
        ({"api_track_order": "legacy"}, "legacy"),
        ({"api_track_order": "new"}, "new"),
        ({"api_track_order": ("canary", "100")}, "new"),
        ({"api_track_order": ("canary", "0")}, "legacy"),
    ],
)
def test_the_final_log_line_names_the_route_and_the_side_that_served_it(
    client, log_lines, modes, side
):
    before = requests_served(side, "404")

    with override_modes(modes):
        response = client.get(TRACK)

    assert response.status_code == 404
    line = final(log_lines)
    assert (line["route"], line["side"], line["status"]) == (
        "monolithos:api_track_order",
        side,
        404,
    )
    assert "shadow" not in line
    assert requests_served(side, "404") == before + 1


def test_in_shadow_mode_the_final_line_carries_the_comparisons_result(client, log_lines):
    with override_modes({"api_track_order": "shadow"}):
        client.get(TRACK)

    line = final(log_lines)
    assert (line["side"], line["shadow"]) == ("legacy", "match")


def test_a_side_forced_by_staff_is_the_side_logged(client, log_lines):
    client.force_login(StaffUserFactory())

    with override_modes({"api_track_order": "legacy"}):
        client.get(TRACK, HTTP_X_STRANGLER_SIDE="new")

    assert final(log_lines)["side"] == "new"


def test_metrics_show_each_routes_mode_and_share_on_new_and_the_kill_switch(client):
    modes: dict[str, str | tuple[str, str]] = {
        "api_place_order": ("canary", "12.5"),
        "api_track_order": "new",
    }

    with override_modes(modes):
        body = client.get("/metrics").content.decode()
    with override_modes(modes, killed=True):
        killed = client.get("/metrics").content.decode()

    assert 'monolithos_strangler_route_mode{mode="canary",route="api_place_order"} 1.0' in body
    assert 'monolithos_strangler_route_mode{mode="legacy",route="api_place_order"} 0.0' in body
    assert 'monolithos_strangler_route_percent{route="api_place_order"} 12.5' in body
    assert 'monolithos_strangler_route_percent{route="api_track_order"} 100.0' in body
    assert 'monolithos_strangler_route_percent{route="api_ship_order"} 0.0' in body
    assert "monolithos_strangler_kill_switch 0.0" in body
    assert "monolithos_strangler_kill_switch 1.0" in killed
