"""Changing modes without a deploy: the command, the admin, the panel; audited, and refused
with a clear reason (nothing changed) when the input is bad."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from strangler import registry
from strangler.models import ModeChange, RouteMode, ShadowMismatch, StranglerState
from strangler.modes import Mode
from strangler.routes import Kind, Route
from strangler.selectors import load_snapshot
from strangler.state import StateStore, Timing
from strangler.testing import FakeClock, FixedBoard, database_state
from tests.factories import StaffUserFactory
from tests.integration.strangler.toys import READ

pytestmark = pytest.mark.django_db


@pytest.fixture
def board() -> FixedBoard:
    return FixedBoard()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def stored_state(board, clock):
    with database_state(board=board, clock=clock) as runtime:
        yield runtime


def strangler(*args: str) -> str:
    out = io.StringIO()
    call_command("strangler", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as error:
        strangler(*args)
    return error.value


def audit() -> list[tuple[str, str, int, str, int, str, str]]:
    return [
        (c.route, c.from_mode, c.from_basis_points, c.to_mode, c.to_basis_points, c.via, c.reason)
        for c in ModeChange.objects.order_by("id")
    ]


# ---------------------------------------------------------------------- the command


def test_set_changes_the_mode_audits_it_and_announces_the_new_version(stored_state, board):
    out = strangler(
        "set", "api_place_order", "canary", "--percent", "12.5", "--reason", "first canary"
    )

    assert out.strip() == "api_place_order: legacy -> canary 12.50 %"
    row = RouteMode.objects.get(route="api_place_order")
    assert (row.mode, row.basis_points) == ("canary", 1250)
    [change] = ModeChange.objects.all()
    assert (change.route, change.from_mode, change.to_mode, change.to_basis_points) == (
        "api_place_order",
        "legacy",
        "canary",
        1250,
    )
    assert (change.via, change.reason) == ("command", "first canary")
    assert change.actor.endswith("(shell)")
    assert board.announced == [change.version]
    # This process routes by it at once.
    state = stored_state.store.snapshot().effective("api_place_order")
    assert (state.mode, state.basis_points) == (Mode.CANARY, 1250)


def test_every_change_is_audited_with_who_when_from_to_and_why():
    strangler("set", "api_track_order", "shadow", "--reason", "compare", "--actor", "ops-ada")
    strangler("set", "api_track_order", "canary", "--percent", "1", "--reason", "1 %")
    strangler("set", "api_track_order", "new", "--reason", "all in", "--actor", "ops-ada")
    strangler("set", "api_track_order", "legacy", "--reason", "rollback")

    assert audit() == [
        ("api_track_order", "legacy", 0, "shadow", 0, "command", "compare"),
        ("api_track_order", "shadow", 0, "canary", 100, "command", "1 %"),
        ("api_track_order", "canary", 100, "new", 0, "command", "all in"),
        ("api_track_order", "new", 0, "legacy", 0, "command", "rollback"),
    ]
    changes = list(ModeChange.objects.order_by("id"))
    actors = [c.actor for c in changes]
    assert (actors[0], actors[2]) == ("ops-ada", "ops-ada")
    assert actors[1].endswith("(shell)")
    assert all(c.at is not None for c in changes)
    versions = [c.version for c in changes]
    assert versions == sorted(versions) and len(set(versions)) == 4


def test_a_shadow_on_a_sample_is_set_audited_and_shown(stored_state, client):
    out = strangler("set", "api_track_order", "shadow", "--sample", "10", "--reason", "no room")
    resampled = strangler("set", "api_track_order", "shadow", "--reason", "quiet hours")
    again = strangler("set", "api_track_order", "shadow", "--reason", "twice")
    strangler("set", "api_track_order", "shadow", "--sample", "2.5", "--reason", "busy again")

    assert out.strip() == "api_track_order: legacy -> shadow, sample 10.00 %"
    assert resampled.strip() == "api_track_order: shadow, sample 10.00 % -> shadow"
    assert "already shadow: nothing changed" in again
    samples = [
        (c.from_sample_points, c.to_sample_points) for c in ModeChange.objects.order_by("id")
    ]
    assert samples == [(10_000, 1_000), (1_000, 10_000), (10_000, 250)]
    assert RouteMode.objects.get(route="api_track_order").sample_points == 250
    state = stored_state.store.snapshot().effective("api_track_order")
    assert (state.mode, state.sample_points) == (Mode.SHADOW, 250)
    status = strangler("status")
    [line] = [line for line in status.splitlines() if line.startswith("api_track_order")]
    assert "shadow, sample 2.50 %" in line

    client.force_login(StaffUserFactory())
    panel = client.get("/ops/strangler/state.json").json()
    routes = {route["route"]: route for route in panel["routes"]}
    assert (routes["api_track_order"]["mode"], routes["api_track_order"]["sample_percent"]) == (
        "shadow",
        "2.50",
    )
    assert routes["api_place_order"]["sample_percent"] == "100.00"
    assert (
        panel["changes"][0]["from_sample_percent"],
        panel["changes"][0]["to_sample_percent"],
    ) == (
        "100.00",
        "2.50",
    )


def test_leaving_shadow_drops_its_sample():
    strangler("set", "api_track_order", "shadow", "--sample", "10", "--reason", "compare")

    out = strangler("set", "api_track_order", "canary", "--percent", "1", "--reason", "1 %")

    assert out.strip() == "api_track_order: shadow, sample 10.00 % -> canary 1.00 %"
    assert RouteMode.objects.get(route="api_track_order").sample_points == 10_000


def test_setting_the_mode_a_route_already_has_changes_nothing():
    strangler("set", "api_track_order", "new", "--reason", "go")

    out = strangler("set", "api_track_order", "new", "--reason", "again")

    assert "already new: nothing changed" in out
    assert len(audit()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "api_nope", "new", "--reason", "x"), "unknown route 'api_nope'"),
        (("set", "api_track_order", "sideways", "--reason", "x"), "unknown mode 'sideways'"),
        (
            ("set", "api_track_order", "canary", "--percent", "101", "--reason", "x"),
            "percent must be from 0 to 100",
        ),
        (
            ("set", "api_track_order", "canary", "--percent", "-0.5", "--reason", "x"),
            "percent must be from 0 to 100",
        ),
        (
            ("set", "api_track_order", "canary", "--percent", "0.001", "--reason", "x"),
            "0.01 steps",
        ),
        (("set", "api_track_order", "canary", "--reason", "x"), "canary needs a percent"),
        (
            ("set", "api_track_order", "new", "--percent", "5", "--reason", "x"),
            "a percent applies to canary only",
        ),
        (("set", "api_track_order", "new", "--reason", "  "), "a reason is required"),
        (("mismatches", "api_nope"), "unknown route 'api_nope'"),
        (
            ("set", "api_track_order", "shadow", "--sample", "0", "--reason", "x"),
            "a sample of 0 compares nothing",
        ),
        (
            ("set", "api_track_order", "shadow", "--sample", "101", "--reason", "x"),
            "sample: percent must be from 0 to 100",
        ),
        (
            ("set", "api_track_order", "shadow", "--sample", "0.005", "--reason", "x"),
            "sample: percent moves in 0.01 steps",
        ),
        (
            ("set", "api_track_order", "shadow", "--sample", "ten", "--reason", "x"),
            "sample: percent must be a number",
        ),
        (
            (
                "set",
                "api_track_order",
                "canary",
                "--percent",
                "5",
                "--sample",
                "5",
                "--reason",
                "x",
            ),
            "a sample applies to shadow only, not to canary",
        ),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_changes_nothing(args, message):
    error = refused(*args)

    assert message in str(error)
    assert error.returncode == 1
    assert ModeChange.objects.count() == 0
    assert not RouteMode.objects.exclude(mode="legacy").exists()


def test_a_missing_reason_is_a_usage_error():
    error = refused("set", "api_track_order", "new")

    assert "--reason" in str(error)
    assert ModeChange.objects.count() == 0


def test_a_mode_the_route_does_not_support_is_refused(monkeypatch):
    route = Route(
        name="toy_no_shadow",
        kind=Kind.READ,
        key=READ.key,
        modes=frozenset({Mode.LEGACY, Mode.NEW}),
    )
    monkeypatch.setitem(registry._routes, route.name, route)

    error = refused("set", "toy_no_shadow", "shadow", "--reason", "x")

    assert str(error) == "route toy_no_shadow does not support shadow (it supports: legacy, new)"
    assert ModeChange.objects.count() == 0


def test_the_kill_switch_sends_every_route_to_legacy_and_lifting_it_restores_them(stored_state):
    strangler("set", "api_track_order", "new", "--reason", "go")
    strangler("set", "api_place_order", "canary", "--percent", "50", "--reason", "half")

    killed = strangler("kill", "--reason", "mismatch storm")
    during = stored_state.store.snapshot()
    changed_while_killed = strangler("set", "api_ship_order", "shadow", "--reason", "prepare")
    lifted = strangler("unkill", "--reason", "fixed")
    after = stored_state.store.snapshot()

    assert "every route is served by legacy" in killed
    assert all(during.effective(name).mode is Mode.LEGACY for name in registry.routes())
    assert "stays on legacy until it is lifted" in changed_while_killed
    assert "back in its mode" in lifted
    assert after.effective("api_track_order").mode is Mode.NEW
    assert after.effective("api_place_order").basis_points == 5000
    assert after.effective("api_ship_order").mode is Mode.SHADOW
    assert [row[:4] for row in audit() if row[0] == "*"] == [
        ("*", "live", 0, "killed"),
        ("*", "killed", 0, "live"),
    ]
    state = StranglerState.objects.get()
    assert (state.killed, state.reason) == (False, "fixed")


def test_killing_twice_says_so_and_records_one_change():
    strangler("kill", "--reason", "one")

    again = strangler("kill", "--reason", "two")

    assert "already engaged" in again
    assert len([row for row in audit() if row[0] == "*"]) == 1


def test_status_lists_every_route_its_mode_and_the_latest_changes():
    strangler("set", "api_place_order", "canary", "--percent", "10", "--reason", "ten")
    strangler("kill", "--reason", "drill")

    out = strangler("status")

    assert "KILL SWITCH ENGAGED" in out and "drill" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("api_")}
    assert set(lines) >= {"api_place_order", "api_track_order", "api_ship_order"}
    assert "canary 10.00 %" in lines["api_place_order"]
    assert "legacy" in lines["api_place_order"].split("%")[1]  # serving: legacy (killed)
    assert "api_place_order: legacy -> canary 10.00 % by" in out
    as_json = json.loads(strangler("status", "--json"))
    assert as_json["kill_switch"]["engaged"] is True


def test_mismatches_lists_a_routes_stored_mismatches():
    from django.utils import timezone

    ShadowMismatch.objects.create(
        created_at=timezone.now(),
        route="api_track_order",
        routing_key="7",
        control={"status": 200},
        candidate={"status": 200},
        diff={"body.shipping_status": ["dispatched", "pending"]},
    )

    out = strangler("mismatches", "api_track_order")

    assert "mismatch key=7" in out
    assert "body.shipping_status: legacy='dispatched' new='pending'" in out
    assert "no mismatches stored" in strangler("mismatches", "api_ship_order")


# ---------------------------------------------------------------------- every process


def test_a_change_reaches_another_process_at_its_next_check(board, clock):
    other_process = StateStore(
        load=load_snapshot, board=board, clock=clock, timing=Timing(check_every=0.25)
    )
    assert other_process.snapshot().effective("api_track_order").mode is Mode.LEGACY

    strangler("set", "api_track_order", "new", "--reason", "go")
    clock.advance(0.25)

    assert other_process.snapshot().effective("api_track_order").mode is Mode.NEW


# ---------------------------------------------------------------------- the ops panel


def test_the_panel_shows_the_state_to_staff_only(client):
    strangler("set", "api_track_order", "shadow", "--reason", "compare")
    assert client.get("/ops/strangler/state.json").status_code == 401
    client.force_login(User.objects.create_user("clerk"))
    assert client.get("/ops/strangler/state.json").status_code == 403

    client.force_login(StaffUserFactory())
    response = client.get("/ops/strangler/state.json")

    assert response.status_code == 200
    body = response.json()
    routes = {route["route"]: route for route in body["routes"]}
    assert routes["api_track_order"]["mode"] == "shadow"
    assert routes["api_track_order"]["kind"] == "read"
    assert body["changes"][0]["reason"] == "compare"
    assert body["process"]["version"] == body["version"]  # this process routes by the latest
    assert client.post("/ops/strangler/state.json").status_code == 405


# ---------------------------------------------------------------------- the admin


@pytest.fixture
def admin_client(client):
    client.force_login(StaffUserFactory(username="ops-grace"))
    return client


def run_action(admin_client, action: str, routes: list[str], **form: str):
    from strangler.services import ensure_routes

    ensure_routes()
    ids = [str(RouteMode.objects.get(route=name).pk) for name in routes]
    return admin_client.post(
        "/admin/strangler/routemode/",
        {"action": action, "_selected_action": ids, **form},
        follow=True,
    )


def test_the_admin_lists_every_route_and_changes_one_by_an_audited_action(admin_client):
    listing = admin_client.get("/admin/strangler/routemode/")
    assert listing.status_code == 200
    assert "api_invoice_pdf" in listing.content.decode()

    asked = run_action(admin_client, "to_canary", ["api_track_order"])
    done = run_action(
        admin_client,
        "to_canary",
        ["api_track_order"],
        apply="1",
        reason="one percent",
        percent="1",
    )

    assert "Give a reason" not in asked.content.decode()
    assert 'name="reason"' in asked.content.decode()
    assert [str(m) for m in done.context["messages"]] == [
        "api_track_order: legacy -> canary 1.00 %"
    ]
    [change] = ModeChange.objects.all()
    assert (change.actor, change.via, change.to_basis_points) == ("ops-grace", "admin", 100)


def test_an_admin_action_without_a_reason_asks_again_and_changes_nothing(admin_client):
    response = run_action(admin_client, "to_new", ["api_track_order"], apply="1", reason="")

    assert 'name="reason"' in response.content.decode()
    assert ModeChange.objects.count() == 0


def test_an_admin_action_refused_by_the_rules_says_why(admin_client):
    response = run_action(
        admin_client, "to_canary", ["api_ship_order"], apply="1", reason="x", percent="250"
    )

    assert "percent must be from 0 to 100" in response.content.decode()
    assert ModeChange.objects.count() == 0


def test_the_admin_shadows_a_route_on_the_sample_it_is_given(admin_client):
    asked = run_action(admin_client, "to_shadow", ["api_track_order"])
    done = run_action(
        admin_client, "to_shadow", ["api_track_order"], apply="1", reason="no room", sample="5"
    )
    full = run_action(
        admin_client, "to_shadow", ["api_ship_order"], apply="1", reason="compare", sample=""
    )

    assert 'name="sample"' in asked.content.decode()
    assert [str(m) for m in done.context["messages"]] == [
        "api_track_order: legacy -> shadow, sample 5.00 %"
    ]
    assert [str(m) for m in full.context["messages"]] == ["api_ship_order: legacy -> shadow"]
    changes = ModeChange.objects.order_by("id")
    assert [(c.route, c.to_sample_points, c.actor) for c in changes] == [
        ("api_track_order", 500, "ops-grace"),
        ("api_ship_order", 10_000, "ops-grace"),
    ]
    listing = admin_client.get("/admin/strangler/routemode/").content.decode()
    assert "shadow, sample 5.00 %" in listing


def test_the_admins_route_page_changes_nothing_by_itself(admin_client):
    from strangler.services import ensure_routes

    ensure_routes()
    row = RouteMode.objects.get(route="api_track_order")

    page = admin_client.get(f"/admin/strangler/routemode/{row.pk}/change/").content.decode()

    assert "shadow sample" in page.lower()  # shown
    for field in ("mode", "basis_points", "sample_points", "salt"):
        assert f'name="{field}"' not in page  # and changed by an audited action only


@pytest.mark.parametrize(
    ("sample", "message"), [("0", "a sample of 0"), ("150", "from 0 to 100"), ("x", "a number")]
)
def test_an_admin_shadow_on_a_bad_sample_is_refused_and_changes_nothing(
    admin_client, sample, message
):
    response = run_action(
        admin_client, "to_shadow", ["api_track_order"], apply="1", reason="x", sample=sample
    )

    assert message in response.content.decode()
    assert ModeChange.objects.count() == 0
    assert RouteMode.objects.get(route="api_track_order").mode == "legacy"


def test_the_kill_switch_from_the_admin(admin_client, stored_state):
    strangler("set", "api_track_order", "new", "--reason", "go")

    run_action(admin_client, "kill", ["api_track_order"], apply="1", reason="drill")
    listing = admin_client.get("/admin/strangler/routemode/").content.decode()

    assert "The kill switch is engaged (drill)" in listing
    assert stored_state.store.snapshot().effective("api_track_order").mode is Mode.LEGACY
    assert ModeChange.objects.filter(route="*", actor="ops-grace").count() == 1
