"""The black box round's counting of final lines and task trace ids, on lines given here."""

from __future__ import annotations

import json

from bench.fight.logs import final_lines, json_lines, task_traces


def finished(trace: str, status: int | None = 200, event: str = "request_finished", **extra):
    line = {"event": event, "trace_id": trace, **extra}
    if status is not None:
        line["status"] = status
    return line


def test_a_request_counts_when_it_has_exactly_one_final_line_with_its_status():
    lines = [
        {"event": "request_started", "trace_id": "a"},
        finished("a", side="new"),
        finished("b", 500, event="request_failed"),
        finished("c"),
        finished("c"),
        finished("d", None),
        finished("someone-else"),
    ]

    counted = final_lines(lines, ["a", "b", "c", "d", "e"])

    assert counted.requests == 5
    assert counted.exactly_one == 2  # a, b
    assert counted.missing == ("e",)
    assert counted.repeated == ("c",)
    assert counted.without_status == ("d",)
    assert counted.sides["a"] == "new"
    assert counted.share == 0.4


def test_no_request_sent_is_a_full_share_not_a_division_by_zero():
    assert final_lines([finished("a")], []).share == 1.0


def test_a_task_belongs_to_the_request_whose_order_its_id_names_or_whose_trace_it_carries():
    lines = [
        {"task_id": "outbox:shipment:ORD-000007", "task": "create", "trace_id": "t7"},
        {"task_id": "outbox:shipment:ORD-000007", "task": "create", "trace_id": "t7"},
        {"task_id": "9f1c", "task": "dispatch", "trace_id": "t7"},  # a random id, carried trace
        {"task_id": "outbox:invoice:INV-000007:v1", "task": "render", "trace_id": "fresh"},
        {"task_id": "outbox:shipment:ORD-0000071", "task": "create", "trace_id": "other"},
        {"task_id": "beat-sweep", "task": "sweep", "trace_id": "beat"},
        {"event": "request_finished", "trace_id": "t7"},
    ]

    traces = task_traces(lines, {"t7": ("ORD-000007", "INV-000007")})

    assert traces.tasks == 3  # the longer number and beat's sweep are nobody's here
    assert traces.carrying == 2
    assert traces.strays == ("outbox:invoice:INV-000007:v1",)
    assert traces.by_name == {"create": 1, "dispatch": 1}
    assert round(traces.share, 2) == 0.67


def test_a_task_with_one_line_under_another_trace_id_is_a_stray():
    lines = [
        {"task_id": "outbox:notification:order-confirmation:ORD-1", "trace_id": "t1"},
        {"task_id": "outbox:notification:order-confirmation:ORD-1", "trace_id": "t2"},
    ]

    assert task_traces(lines, {"t1": ("ORD-1",)}).carrying == 0


def test_only_json_object_lines_are_read(tmp_path):
    log = tmp_path / "web.log"
    log.write_text(
        "\n".join(
            [
                json.dumps(finished("a")),
                "[2026-12-04 01:00:00 +0000] [12] [INFO] Booting worker",
                "{not json",
                "Traceback (most recent call last):",
                json.dumps(finished("b")),
            ]
        )
    )

    assert [line["trace_id"] for line in json_lines([log, tmp_path / "absent.log"])] == ["a", "b"]
