"""What fails the flake, black box and herd rounds: their verdicts on numbers given here."""

from __future__ import annotations

from collections import Counter

from bench.fight import blackbox, flake, herd_round
from bench.fight.arena import breaker_state_from
from bench.fight.logs import final_lines, task_traces
from bench.fight.traffic import Answer
from bench.fight.work import Work, tally
from bench.harness.client import Herd, Outcome


def work(orders: int, *, done: int | None = None, twice: int = 0) -> Work:
    done = orders if done is None else done
    return Work(orders, done, done, done, done, twice, 0, 0)


def answer(side: str, seconds: float, kind: str = "place", status: int = 201) -> Answer:
    return Answer(kind, side, "t", 0.0, seconds, status)


def flake_sides(*, new_work: Work, hang: bool = False) -> dict[str, flake.Side]:
    legacy = flake.Side("legacy", [answer("legacy", 3.1), answer("legacy", 0.1)], ["ORD-1"])
    legacy.work = work(1, done=0)
    new = flake.Side("new", [answer("new", 3.0 if hang else 0.1)], ["ORD-2"], ["b@example.com"])
    new.work = new_work
    return {"legacy": legacy, "new": new}


def opened_and_closed() -> flake.Breaker:
    return flake.Breaker(open_after_s=1.0, closed_after_s=6.0, drained_after_s=9.0)


def held(result) -> dict[str, bool]:
    return {d.name: d.held for d in result.defenses}


def test_the_flake_round_holds_on_the_new_sides_numbers_not_the_legacy_ones():
    result = flake.judge(
        flake_sides(new_work=work(1)), flake.Side("down"), opened_and_closed(), hang_wait_s=3.0
    )

    assert result.held, held(result)
    assert "waited on a hang 1 -> 0" in result.summary
    assert "lost 1 -> 0" in result.summary


def test_the_flake_round_fails_on_a_lost_order_a_double_dispatch_a_hang_or_a_stuck_breaker():
    assert not flake.judge(
        flake_sides(new_work=work(1, done=0)), flake.Side("d"), opened_and_closed(), hang_wait_s=3.0
    ).held
    assert not flake.judge(
        flake_sides(new_work=work(1, twice=1)),
        flake.Side("d"),
        opened_and_closed(),
        hang_wait_s=3.0,
    ).held
    assert not flake.judge(
        flake_sides(new_work=work(1), hang=True),
        flake.Side("d"),
        opened_and_closed(),
        hang_wait_s=3.0,
    ).held
    refused_while_down = flake.Side("d", [answer("new", 0.01, status=400)])
    assert not flake.judge(
        flake_sides(new_work=work(1)), refused_while_down, opened_and_closed(), hang_wait_s=3.0
    ).held
    never_closed = flake.Breaker(open_after_s=1.0)
    assert not flake.judge(
        flake_sides(new_work=work(1)), flake.Side("d"), never_closed, hang_wait_s=3.0
    ).held


def herd_side(name: str, accepted: int, *, lost: int = 0, twice: int = 0) -> herd_round.Side:
    side = herd_round.Side(
        name,
        herd=Herd(tuple(Outcome(0.1 * (i + 1), status=201) for i in range(accepted)), 0.0),
        numbers=[f"ORD-{name}-{i}" for i in range(accepted)],
        drained_s=3.0,
    )
    side.work = work(accepted, done=accepted - lost, twice=twice)
    return side


def test_the_herd_round_holds_when_the_new_side_accepted_everything_and_lost_and_doubled_nothing():
    result = herd_round.judge({"legacy": herd_side("legacy", 3), "new": herd_side("new", 3)}, 3)

    assert result.held, held(result)
    assert "lost 0, duplicated 0" in result.summary


def test_the_herd_round_fails_on_a_refused_lost_or_doubled_order_of_the_new_side():
    legacy = herd_side("legacy", 3)
    for new in (herd_side("new", 2), herd_side("new", 3, lost=1), herd_side("new", 3, twice=1)):
        assert not herd_round.judge({"legacy": legacy, "new": new}, 3).held


def blackbox_result(lines, *, sent, kill_rendered=True, caused=None):
    caused = caused if caused is not None else {"t1": ("ORD-1",)}
    return blackbox.judge(
        sent,
        final_lines(lines, [s.trace_id for s in sent]),
        task_traces(lines, caused),
        blackbox.Kill("t1", "ORD-1", 4242, kill_rendered),
        caused_per_request={t: set(blackbox.CAUSED_TASKS) for t in caused},
    )


SENT = [
    blackbox.Sent("order placed (new)", "new", "t1", 201),
    blackbox.Sent("view raised", "", "t2", 500),
]
LINES: list[dict[str, object]] = [
    {"event": "request_finished", "trace_id": "t1", "status": 201, "side": "new"},
    {"event": "request_failed", "trace_id": "t2", "status": 500},
    {"task_id": "outbox:shipment:ORD-1", "task": "create", "trace_id": "t1"},
]


def test_the_black_box_round_holds_when_every_request_has_one_final_line_and_tasks_their_id():
    result = blackbox_result(LINES, sent=SENT)

    assert result.held, held(result)
    assert result.summary.startswith("final lines 2/2 (100 %)")


def test_the_black_box_round_fails_on_a_missing_final_line_a_wrong_side_or_a_stray_task():
    assert not blackbox_result(LINES[1:], sent=SENT).held
    wrong_side = [dict(LINES[0], side="legacy"), *LINES[1:]]
    assert not blackbox_result(wrong_side, sent=SENT).held
    stray = [*LINES, {"task_id": "outbox:shipment:ORD-1", "task": "create", "trace_id": "x"}]
    assert not blackbox_result(stray, sent=SENT).held
    assert not blackbox_result(LINES, sent=SENT, kill_rendered=False).held


def test_the_work_done_counts_the_ledger_mails_and_orders_of_the_rounds_customers_only():
    counted = tally(
        ["ORD-1", "ORD-2"],
        ["a@example.com", "B@example.com"],
        ledger=[{"order_ref": "ORD-1"}, {"order_ref": "ORD-1"}, {"order_ref": "ORD-9"}],
        rendered={"ORD-1", "ORD-2", "ORD-9"},
        in_database=Counter({"a@example.com": 1, "b@example.com": 2}),
        mails=[
            ("a@example.com", "Your order ORD-1"),
            ("sales@example.com", "New order for a@example.com"),
            ("b@example.com", "Your order ORD-2"),
            ("b@example.com", "Your order ORD-2"),
        ],
    )

    assert (counted.placed, counted.shipped, counted.invoiced, counted.mailed) == (2, 1, 2, 2)
    assert (counted.dispatched_twice, counted.mailed_twice, counted.placed_twice) == (1, 1, 1)
    assert counted.lost == 1  # ORD-2 was never dispatched
    assert not counted.drained


def test_the_breaker_state_is_read_from_the_readiness_body():
    def body(detail: str) -> dict[str, object]:
        return {"checks": {"supplier_breaker": {"ok": detail != "breaker open", "detail": detail}}}

    assert breaker_state_from(body("breaker closed")) == "closed"
    assert breaker_state_from(body("breaker open")) == "open"
    assert breaker_state_from(body("breaker half-open")) == "half_open"
    assert breaker_state_from({"checks": {}}) == "unknown"


def test_the_mail_box_reads_a_file_again_once_it_grew(tmp_path):
    from bench.fight.work import MailBox
    from bench.harness.mails import SEPARATOR

    def message(to: str, subject: str) -> bytes:
        return f"Subject: {subject}\nTo: {to}\n\nbody\n".encode() + SEPARATOR

    connection = tmp_path / "20261204-013026-1.log"
    connection.write_bytes(message("A@example.com", "Your order ORD-1"))
    box = MailBox(tmp_path)

    assert box.read() == [("a@example.com", "Your order ORD-1")]
    with connection.open("ab") as still_open:
        still_open.write(message("sales@example.com, b@example.com", "New order"))
    assert box.read() == [
        ("a@example.com", "Your order ORD-1"),
        ("sales@example.com", "New order"),
        ("b@example.com", "New order"),
    ]
