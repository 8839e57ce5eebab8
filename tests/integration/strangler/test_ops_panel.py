"""The ops panel at /ops/strangler/: who may see it, what it shows, each control's success,
refusal and bad input, CSRF, and reads that write nothing (Django's test client, no script)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from strangler import registry, services
from strangler.models import ModeChange, RouteMode, StranglerState, TrafficMinute
from strangler.testing import FakeClock, FixedBoard, database_state
from strangler.traffic import TrafficCounter
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

PANEL, STATE = "/ops/strangler/", "/ops/strangler/state.json"
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@pytest.fixture(autouse=True)
def stored_state():
    with database_state(board=FixedBoard(), clock=FakeClock()) as runtime:
        yield runtime


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(StaffUserFactory(username="operator"))
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def route_mode(route: str) -> tuple[str, int]:
    row = RouteMode.objects.get(route=route)
    return row.mode, row.basis_points


# ---------------------------------------------------------------------- who may see it


def test_anonymous_visitors_are_sent_to_the_admin_login_with_next(client):
    response = client.get(PANEL)

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/ops/strangler/"
    assert client.get(STATE).status_code == 401
    assert client.post("/ops/strangler/kill-switch/").status_code == 302
    assert not StranglerState.objects.filter(killed=True).exists()


def test_a_signed_in_user_who_is_not_staff_is_refused_the_data(client):
    client.force_login(User.objects.create_user("clerk"))

    page = client.get(PANEL)

    assert page.status_code == 403
    assert "api_track_order" not in page.content.decode()
    assert client.get(STATE).status_code == 403
    posted = client.post(
        "/ops/strangler/kill-switch/", {"action": "engage", "confirm": "on", "reason": "x"}
    )
    assert posted.status_code == 403
    assert not ModeChange.objects.exists()


def test_staff_see_routes_phase_switch_and_audit_log(staff):
    services.set_mode(
        route="api_track_order", mode="shadow", reason="compare", actor="ops", via="command"
    )

    page = staff.get(PANEL)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="route-api_track_order"' in html and 'id="route-api_place_order"' in html
    assert "Data ownership phase" in html and 'id="phase-current"' in html
    assert "Recent changes (audit log)" in html and "compare" in html
    assert 'src="/static/strangler/panel.js"' in html
    assert "Django administration" in html or "site-name" in html  # the admin's frame
    assert html.count('class="panel-form mode-form"') == len(registry.routes())
    assert 'id="phase-form"' in html and 'id="kill-form"' in html


# ---------------------------------------------------------------------- route modes


def test_a_route_goes_to_canary_25_and_back_through_the_forms(staff):
    to_canary = staff.post(
        "/ops/strangler/mode/",
        {"route": "api_track_order", "mode": "canary", "percent": "25", "reason": "first 25 %"},
        follow=True,
    )

    assert to_canary.redirect_chain == [("/ops/strangler/", 302)]
    assert messages_of(to_canary) == ["api_track_order: legacy -> canary 25.00 %"]
    assert route_mode("api_track_order") == ("canary", 2500)
    assert "canary 25.00 %" in to_canary.content.decode()

    back = staff.post(
        "/ops/strangler/mode/",
        {"route": "api_track_order", "mode": "legacy", "reason": "back"},
        follow=True,
    )

    assert messages_of(back) == ["api_track_order: canary 25.00 % -> legacy"]
    assert route_mode("api_track_order") == ("legacy", 0)
    changes = ModeChange.objects.order_by("id").values_list("via", "actor", "reason")
    assert list(changes) == [("panel", "operator", "first 25 %"), ("panel", "operator", "back")]


def test_a_refused_mode_change_is_an_error_message(staff):
    response = staff.post(
        "/ops/strangler/mode/",
        {"route": "api_track_order", "mode": "canary", "reason": "no share given"},
        follow=True,
    )

    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("refused: canary needs a percent")
    assert not ModeChange.objects.exists()


@pytest.mark.parametrize(
    "form",
    [
        {"route": "api_track_order", "mode": "new", "reason": ""},
        {"route": "api_track_order", "mode": "sideways", "reason": "bad mode"},
        {"route": "no_such_route", "mode": "new", "reason": "bad route"},
    ],
)
def test_bad_mode_input_is_a_400_with_the_form_errors(staff, form):
    response = staff.post("/ops/strangler/mode/", form)

    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not ModeChange.objects.exists()


# ---------------------------------------------------------------------- kill switch


def test_the_kill_switch_needs_the_confirmation(staff):
    response = staff.post("/ops/strangler/kill-switch/", {"action": "engage", "reason": "fire"})

    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not StranglerState.objects.filter(killed=True).exists()


def test_the_kill_switch_is_pressed_and_lifted(staff):
    pressed = staff.post(
        "/ops/strangler/kill-switch/",
        {"action": "engage", "confirm": "on", "reason": "errors up"},
        follow=True,
    )

    assert messages_of(pressed) == ["kill switch engaged: every route is served by legacy"]
    assert StranglerState.objects.get().killed
    assert 'value="Lift the kill switch"' in pressed.content.decode()

    again = staff.post(
        "/ops/strangler/kill-switch/",
        {"action": "engage", "confirm": "on", "reason": "pressed twice"},
        follow=True,
    )
    assert messages_of(again)[0].startswith("the kill switch is already engaged")

    lifted = staff.post(
        "/ops/strangler/kill-switch/",
        {"action": "lift", "confirm": "on", "reason": "fixed"},
        follow=True,
    )

    assert messages_of(lifted) == ["kill switch lifted: every route is back in its mode"]
    assert not StranglerState.objects.get().killed
    assert ModeChange.objects.filter(route=ModeChange.KILL_SWITCH, via="panel").count() == 2


# ---------------------------------------------------------------------- data phase


def test_advancing_the_phase_is_refused_while_its_preconditions_fail(staff):
    response = staff.post(
        "/ops/strangler/phase/",
        {"step": "advance", "expected": "legacy", "reason": "no parity yet"},
        follow=True,
    )

    [message] = messages_of(response)
    assert message.startswith("refused: legacy -> verify refused, its preconditions do not hold")
    assert StranglerState.objects.filter(phase="verify").count() == 0


def test_the_phase_advances_once_and_a_stale_page_changes_nothing(staff):
    assert services.run_parity() is not None
    form = {"step": "advance", "expected": "legacy", "reason": "parity clean"}

    first = staff.post("/ops/strangler/phase/", form, follow=True)
    second = staff.post("/ops/strangler/phase/", form, follow=True)

    assert messages_of(first) == ["data phase: legacy -> verify"]
    assert messages_of(second)[0].startswith("refused: the data phase is verify now, not legacy")
    assert StranglerState.objects.get().phase == "verify"
    assert ModeChange.objects.filter(route=ModeChange.DATA_PHASE).count() == 1

    back = staff.post(
        "/ops/strangler/phase/",
        {"step": "back", "expected": "verify", "reason": "roll back"},
        follow=True,
    )
    assert messages_of(back) == ["data phase: verify -> legacy"]


def test_bad_phase_input_is_a_400(staff):
    response = staff.post("/ops/strangler/phase/", {"step": "sideways", "expected": "legacy"})

    assert response.status_code == 400
    assert not ModeChange.objects.exists()


# ---------------------------------------------------------------------- CSRF, no script


def test_the_forms_need_their_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(StaffUserFactory())
    form = {"action": "engage", "confirm": "on", "reason": "no token"}

    assert client.post("/ops/strangler/kill-switch/", form).status_code == 403
    assert not StranglerState.objects.filter(killed=True).exists()

    page = client.get(PANEL).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = client.post("/ops/strangler/kill-switch/", {**form, "csrfmiddlewaretoken": token[1]})
    assert response.status_code == 302
    assert StranglerState.objects.get().killed


# ---------------------------------------------------------------------- traffic and reads


def test_the_panel_shows_the_stored_traffic_counts(staff, stored_state):
    stored_state.traffic = TrafficCounter()
    services.set_mode(
        route="api_track_order", mode="canary", percent="100", reason="all", actor="o", via="api"
    )
    for _ in range(3):
        stored_state.traffic.count("api_track_order", "new")
    stored_state.traffic.count("api_track_order", "legacy")
    stored_state.traffic.flush()
    stored_state.traffic.count("api_track_order", "new")  # a second flush adds, F() + n
    stored_state.traffic.flush()

    body = staff.get(STATE).json()

    figures = body["traffic"]["api_track_order"]
    assert figures["served_5m"] == {"legacy": 1, "new": 4}
    assert figures["served_60m"] == {"legacy": 1, "new": 4}
    assert figures["minutes"][-1]["new_share"] == figures["new_share_60m"] == 80.0
    assert len(figures["minutes"]) == 60
    assert body["traffic"]["api_place_order"]["served_60m"] == {"legacy": 0, "new": 0}
    assert sum(TrafficMinute.objects.values_list("new", flat=True)) == 4
    page = staff.get(PANEL).content.decode()
    assert '<polyline class="series"' in page


def test_reading_the_panel_and_its_json_writes_nothing(staff, stored_state):
    services.set_mode(
        route="api_track_order", mode="shadow", reason="compare", actor="o", via="api"
    )
    stored_state.traffic.count("api_track_order", "legacy")
    stored_state.traffic.flush()

    with CaptureQueriesContext(connection) as ran:
        assert staff.get(PANEL).status_code == 200
        assert staff.get(STATE).status_code == 200

    writes = [
        q["sql"] for q in ran.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)
    ]
    assert writes == []
    assert ran.captured_queries  # it was watched


def test_a_fresh_database_is_read_without_writing_the_state_row(staff):
    with CaptureQueriesContext(connection) as ran:
        assert staff.get(STATE).json()["kill_switch"]["engaged"] is False

    assert not StranglerState.objects.exists()
    assert not [q for q in ran.captured_queries if q["sql"].upper().startswith(WRITES)]


def test_the_page_s_own_forms_make_a_change_without_a_script(staff):
    """What a browser without JavaScript sends: the form's action and its hidden fields, as
    the page wrote them."""
    page = staff.get(PANEL).content.decode()
    form = re.search(r'<form method="post" action="([^"]+)" class="panel-form" id="kill-form">'
                     r'(.*?)</form>', page, re.S)  # fmt: skip
    assert form is not None
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form[2]))
    assert hidden["action"] == "engage"

    response = staff.post(form[1], {**hidden, "reason": "drill", "confirm": "on"}, follow=True)

    assert response.redirect_chain == [(PANEL, 302)]
    assert StranglerState.objects.get().killed
    assert 'name="action" value="lift"' in response.content.decode()
