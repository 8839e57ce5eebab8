"""Changing the data ownership phase: each step and each refusal, by the command, the service
and the admin; audited (forced steps with what they risked) and seen by every process."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from logistics.public import build_logistics_service
from monolithos.models import Order
from strangler import registry, services
from strangler.models import ModeChange, ParityRun, ShadowMismatch, StranglerState
from strangler.phases import Phase
from strangler.routes import Kind, Route
from strangler.selectors import load_snapshot, state_row
from strangler.state import StateStore, Timing
from strangler.testing import FakeClock
from tests.integration.data_phase.conftest import backfilled, legacy_order, tamper
from tests.integration.strangler.toys import READ

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stored_state")]


def strangler(*args: str) -> str:
    out = io.StringIO()
    call_command("strangler", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as error:
        strangler(*args)
    assert error.value.returncode == 1
    return error.value


def stored_phase() -> str:
    return state_row().phase


def phase_changes() -> list[tuple[str, str, bool, str]]:
    return [
        (change.from_mode, change.to_mode, change.forced, change.reason)
        for change in ModeChange.objects.filter(route=ModeChange.DATA_PHASE).order_by("id")
    ]


def put_in(phase: Phase) -> None:
    """The phase as a past step left it (its preconditions are other tests' business)."""
    StranglerState.objects.update_or_create(pk=1, defaults={"phase": phase.value})


@pytest.fixture
def clean_orders(db: None) -> list[Order]:
    return backfilled(legacy_order("dispatched"), legacy_order("pending"))


# ---------------------------------------------------------------------- the steps forward


def test_the_first_step_needs_a_parity_run_and_is_refused_without_one(clean_orders):
    error = refused("phase", "advance", "--reason", "verify reads")

    assert str(error).startswith("legacy -> verify refused, its preconditions do not hold:")
    assert "parity-recent: no parity run yet" in str(error)
    assert "--force goes ahead anyway" in str(error)
    assert (stored_phase(), phase_changes()) == ("legacy", [])


def test_legacy_to_verify_once_a_parity_run_found_the_backfill_complete(
    clean_orders, stored_state, board
):
    parity = strangler("phase", "parity")
    out = strangler("phase", "advance", "--reason", "compare every read", "--actor", "ops-ada")

    assert parity.startswith("parity at ")
    assert "2 checked, 0 mismatched, 0 missing" in parity
    assert out.strip() == "data phase: legacy -> verify"
    [change] = ModeChange.objects.filter(route=ModeChange.DATA_PHASE)
    assert (change.actor, change.via, change.reason, change.forced) == (
        "ops-ada",
        "command",
        "compare every read",
        False,
    )
    assert board.announced == [change.version]
    # This process reads by it at once; the router says what it means.
    assert stored_state.store.snapshot().phase is Phase.VERIFY
    from config import routers

    assert routers.shipping_ownership().verified


def test_an_order_without_its_shipment_means_the_backfill_is_incomplete(db):
    backfilled(legacy_order("dispatched"))
    legacy_order("pending")  # placed after the backfill, its shipment never created
    assert str(refused("phase", "parity")) == "parity does not hold"

    error = refused("phase", "advance", "--reason", "verify")

    assert "backfill-complete: the last parity run found 1 rows missing" in str(error)
    assert stored_phase() == "legacy"


def test_a_parity_run_older_than_the_limit_does_not_count(clean_orders, settings):
    ParityRun.objects.create(
        started_at=timezone.now() - timedelta(hours=2, minutes=1),
        finished_at=timezone.now() - timedelta(hours=2),
        phase="legacy",
        checked=2,
        mismatched=0,
        missing=0,
    )

    error = refused("phase", "advance", "--reason", "verify")

    assert "parity-recent: the last parity run is 120 min old (at most 60 min)" in str(error)
    settings.STRANGLER_PARITY_MAX_AGE_SECONDS = 3 * 3600
    assert strangler("phase", "advance", "--reason", "verify").strip() == (
        "data phase: legacy -> verify"
    )


def test_verify_to_logistics_needs_a_clean_parity_run_made_in_verify(clean_orders):
    strangler("phase", "parity")
    strangler("phase", "advance", "--reason", "verify")

    error = refused("phase", "advance", "--reason", "read from logistics")
    assert "parity-in-verify: the last parity run started in legacy, not verify" in str(error)

    strangler("phase", "parity")
    out = strangler("phase", "advance", "--reason", "read from logistics")
    assert out.strip() == "data phase: verify -> logistics"
    assert stored_phase() == "logistics"


def test_disagreeing_copies_refuse_the_step_to_logistics(clean_orders):
    dispatched, _ = clean_orders
    put_in(Phase.VERIFY)
    tamper(dispatched, tracking_number="TRK-STALE")

    run = refused("phase", "parity")
    error = refused("phase", "advance", "--reason", "read from logistics")

    assert str(run) == "parity does not hold"
    assert "parity-clean: the last parity run found 1 rows whose copies disagree" in str(error)
    assert f"{dispatched.number} tracking_number: columns='TRK-STALE' shipment='TRK-1'" in str(
        error
    )
    assert stored_phase() == "verify"


def test_a_verify_read_that_disagreed_since_the_last_run_refuses_the_step(clean_orders):
    put_in(Phase.VERIFY)
    strangler("phase", "parity")
    ShadowMismatch.objects.create(
        created_at=timezone.now(),
        route=ModeChange.DATA_PHASE,
        routing_key="ORD-1",
        control={},
        candidate={},
    )

    error = refused("phase", "advance", "--reason", "read from logistics")

    assert "verify-reads-clean: 1 reads disagreed since the last parity run started" in str(error)


def test_force_takes_the_step_audits_it_and_says_what_it_risks(clean_orders):
    dispatched, _ = clean_orders
    put_in(Phase.VERIFY)
    tamper(dispatched, tracking_number="TRK-STALE")
    refused("phase", "parity")

    out = strangler("phase", "advance", "--reason", "the copy is wrong, not logistics", "--force")

    assert out.startswith("data phase: verify -> logistics\nFORCED past what did not hold")
    assert "parity-clean" in out and "risk: 1 rows: reads answer the new owner's data" in out
    [change] = ModeChange.objects.filter(route=ModeChange.DATA_PHASE)
    assert change.forced is True
    assert [item.split(":")[0] for item in change.overridden] == ["parity-clean"]
    assert "risk:" in change.overridden[0]
    assert stored_phase() == "logistics"


def test_force_that_overrides_nothing_is_not_recorded_as_forced(clean_orders):
    strangler("phase", "parity")

    strangler("phase", "advance", "--reason", "verify", "--force")

    assert phase_changes() == [("legacy", "verify", False, "verify")]


def test_contract_is_refused_while_a_route_whose_legacy_handler_reads_the_columns_serves_legacy(
    clean_orders, monkeypatch
):
    reader = Route(name="toy_reader", kind=Kind.READ, key=READ.key, legacy_reads_columns=True)
    monkeypatch.setitem(registry._routes, reader.name, reader)
    put_in(Phase.LOGISTICS)
    strangler("phase", "parity")

    error = refused("phase", "advance", "--reason", "stop writing the columns")
    assert "no-route-reads-columns: routes whose legacy handler reads the legacy copy still " in (
        str(error)
    )
    assert "toy_reader" in str(error)

    services.set_mode(route="toy_reader", mode="new", reason="r", actor="t", via="command")
    services.kill(reason="drill", actor="t", via="command")
    assert "toy_reader" in str(refused("phase", "advance", "--reason", "contract"))

    services.unkill(reason="drill over", actor="t", via="command")
    assert strangler("phase", "advance", "--reason", "contract").strip() == (
        "data phase: logistics -> contract"
    )


def test_no_strangled_route_reads_the_columns_itself():
    # Every legacy handler reads the shipping data through the router (monolithos.shipping_data).
    assert [name for name, route in registry.routes().items() if route.legacy_reads_columns] == []


def test_one_phase_at_a_time(clean_orders):
    strangler("phase", "parity")

    error = refused("phase", "set", "logistics", "--reason", "skip verify", "--force")

    assert str(error).startswith("one phase at a time: legacy -> verify first")
    assert stored_phase() == "legacy"


def test_there_is_no_step_past_the_last_phase_or_before_the_first():
    assert "there is no step back" in str(refused("phase", "back", "--reason", "r"))
    put_in(Phase.CONTRACT)
    assert "there is no next phase" in str(refused("phase", "advance", "--reason", "r"))


# ---------------------------------------------------------------------- the steps back


@pytest.mark.parametrize(
    ("start", "args", "end"),
    [
        (Phase.VERIFY, ("back",), "legacy"),
        (Phase.LOGISTICS, ("back",), "verify"),
        (Phase.LOGISTICS, ("set", "legacy"), "legacy"),
        (Phase.CONTRACT, ("back",), "logistics"),
    ],
)
def test_stepping_back_is_always_allowed_without_any_parity(start, args, end):
    put_in(start)

    out = strangler("phase", *args, "--reason", "rollback")

    assert out.startswith(f"data phase: {start} -> {end}")
    assert phase_changes() == [(start.value, end, False, "rollback")]


def test_leaving_contract_refills_the_columns_it_did_not_write(clean_orders):
    _, pending = clean_orders
    put_in(Phase.CONTRACT)
    service = build_logistics_service()
    service.cancel_order(str(pending.number))  # its listener writes no column in contract
    cancelled = service.get_for_order(str(pending.number))
    pending.refresh_from_db()
    assert (pending.shipping_status, pending.shipping_version) == ("pending", 0)

    out = strangler("phase", "back", "--reason", "keep the copy again")

    # Both orders: the backfill created their shipments, it never wrote their versions.
    assert out.strip() == (
        "data phase: contract -> logistics; the legacy copy was refilled from the new owner "
        "(2 rows behind)"
    )
    pending.refresh_from_db()
    assert (pending.shipping_status, pending.shipping_version) == ("cancelled", cancelled.version)
    assert strangler("phase", "refill").strip() == "refilled 0 rows from the new owner"


def test_leaving_contract_while_the_columns_are_dropped_is_refused_even_forced(settings):
    put_in(Phase.CONTRACT)
    settings.SHIPPING_COLUMNS_DROPPED = True

    for args in (("back",), ("set", "logistics", "--force")):
        error = refused("phase", *args, "--reason", "rollback")
        assert "cannot leave contract: the order's shipping columns are dropped" in str(error)
        assert "manage.py migrate monolithos_shipping_contract zero" in str(error)
        assert "(--force cannot skip this)" in str(error)
    assert (stored_phase(), phase_changes()) == ("contract", [])


# ---------------------------------------------------------------------- bad input, races


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "sideways", "--reason", "r"), "unknown phase 'sideways' (phases, in order: "),
        (("back", "--reason", "  "), "a reason is required"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(args, message):
    put_in(Phase.VERIFY)

    assert message in str(refused("phase", *args))
    assert (stored_phase(), phase_changes()) == ("verify", [])


def test_a_step_pressed_twice_from_the_same_page_is_taken_once(clean_orders):
    strangler("phase", "parity")
    kwargs: dict[str, Any] = {"reason": "r", "actor": "ops", "via": "api", "expected": "legacy"}

    services.advance_phase(**kwargs)
    with pytest.raises(services.ChangeRefused, match="the data phase is verify now, not legacy"):
        services.advance_phase(**kwargs)

    assert phase_changes() == [("legacy", "verify", False, "r")]


def test_setting_the_phase_it_has_changes_nothing():
    put_in(Phase.VERIFY)

    assert "already verify: nothing changed" in strangler("phase", "set", "verify", "--reason", "r")
    assert phase_changes() == []


# ---------------------------------------------------------------------- what every process sees


def test_a_phase_change_reaches_another_process_at_its_next_check(clean_orders, board):
    other_clock = FakeClock()
    other = StateStore(load=load_snapshot, board=board, clock=other_clock, timing=Timing())
    assert other.snapshot().phase is Phase.LEGACY
    strangler("phase", "parity")

    strangler("phase", "advance", "--reason", "verify")

    assert other.snapshot().phase is Phase.LEGACY  # its copy, until its next check
    other_clock.advance(Timing().check_every)
    assert other.snapshot().phase is Phase.VERIFY
    assert other.snapshot().version == board.version


def test_a_worker_reports_the_phase_it_reads_by():
    from strangler.tasks import routing_state

    put_in(Phase.LOGISTICS)
    StranglerState.objects.filter(pk=1).update(version=99)

    assert routing_state.apply().get()["phase"] == "logistics"


def test_status_shows_the_phase_its_parity_and_what_the_next_one_needs(clean_orders):
    strangler("phase", "parity")
    strangler("phase", "advance", "--reason", "verify")

    out = strangler("phase", "status")

    assert out.splitlines()[0] == "data phase: verify (legacy -> verify -> logistics -> contract)"
    assert "parity: 2 checked, 0 mismatched, 0 missing" in out
    assert "next: logistics (not ready)" in out
    assert "  NO  parity-in-verify: the last parity run started in legacy, not verify" in out
    assert "  ok  parity-clean: the last parity run found 0 of 2 apart" in out
    assert "data phase: verify, next: logistics" in strangler("status")


def test_the_panel_json_carries_the_phase_for_staff(clean_orders, admin_client):
    strangler("phase", "parity")

    body = admin_client.get("/ops/strangler/state.json").json()

    phase = body["phase"]
    assert (phase["phase"], phase["next"], phase["previous"]) == ("legacy", "verify", None)
    assert phase["parity"]["checked"] == 2 and phase["parity"]["clean"] is True
    assert [check["name"] for check in phase["next_preconditions"]] == [
        "parity-recent",
        "backfill-complete",
    ]
    assert phase["next_allowed"] is True


# ---------------------------------------------------------------------- the admin


def run_phase_action(admin_client: Any, action: str, **form: str) -> Any:
    from strangler.models import RouteMode

    services.ensure_routes()
    ids = [str(RouteMode.objects.first().pk)]  # type: ignore[union-attr]
    return admin_client.post(
        "/admin/strangler/routemode/",
        {"action": action, "_selected_action": ids, **form},
        follow=True,
    )


def test_the_admin_shows_the_next_phases_preconditions_and_refuses_with_a_message(
    clean_orders, admin_client
):
    page = run_phase_action(admin_client, "advance_phase")
    done = run_phase_action(
        admin_client, "advance_phase", apply="1", reason="verify", expected="legacy"
    )

    content = page.content.decode()
    assert "Advance to <strong>verify</strong>" in content
    assert "parity-recent" in content and "no parity run yet" in content
    assert 'name="force"' in content and 'name="expected" value="legacy"' in content
    [message] = [str(m) for m in done.context["messages"]]
    assert message.startswith("legacy -> verify refused, its preconditions do not hold:")
    assert stored_phase() == "legacy"


def test_the_admin_forces_a_step_and_steps_back(clean_orders, admin_client):
    forced = run_phase_action(
        admin_client, "advance_phase", apply="1", reason="drill", expected="legacy", force="on"
    )
    back = run_phase_action(
        admin_client, "step_back_phase", apply="1", reason="drill over", expected="verify"
    )

    assert [m.level_tag for m in forced.context["messages"]] == ["warning"]
    assert "FORCED past what did not hold" in str(next(iter(forced.context["messages"])))
    assert [str(m) for m in back.context["messages"]] == ["data phase: verify -> legacy"]
    assert [(c[0], c[1], c[2]) for c in phase_changes()] == [
        ("legacy", "verify", True),
        ("verify", "legacy", False),
    ]
    assert {c.via for c in ModeChange.objects.filter(route=ModeChange.DATA_PHASE)} == {"admin"}


def test_an_admin_step_without_a_reason_asks_again_and_changes_nothing(admin_client):
    put_in(Phase.VERIFY)

    page = run_phase_action(admin_client, "step_back_phase", apply="1", reason="", expected="x")

    assert "Give a reason." in page.content.decode()
    assert phase_changes() == []


def test_the_copy_is_not_refilled_by_hand_in_contract(clean_orders):
    put_in(Phase.CONTRACT)

    error = refused("phase", "refill")

    assert str(error) == "the legacy copy is not written in contract: step back first"
