"""The black box's evidence: the JSON log lines the system's processes wrote, counted.

A request's final line is django-structlog's ``request_finished`` or ``request_failed``
(docs/adr/0018); it must be the only one for its trace id and carry ``status`` and
``trace_id``. A task's lines are those with its ``task_id``; each must carry the trace id of
the request that caused it. Pure functions over parsed lines: the unit tests feed them lines.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINAL_EVENTS = ("request_finished", "request_failed")


def json_lines(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every JSON object line of these files (other output, a traceback's tail, is skipped)."""
    lines: list[dict[str, Any]] = []
    for path in paths:
        if not path.is_file():
            continue
        for raw in path.read_text(errors="replace").splitlines():
            if raw[:1] != "{":
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                lines.append(line)
    return lines


@dataclass(frozen=True)
class FinalLines:
    """Per request sent: how many final lines its trace id has, and whether they are whole."""

    requests: int
    exactly_one: int  # one final line, with a status and the trace id
    missing: tuple[str, ...]  # trace ids with no final line
    repeated: tuple[str, ...]  # trace ids with more than one
    without_status: tuple[str, ...]
    sides: Mapping[str, str]  # trace id -> the side the final line names ("" when none)

    @property
    def share(self) -> float:
        return self.exactly_one / self.requests if self.requests else 1.0


def final_lines(lines: Sequence[Mapping[str, Any]], trace_ids: Sequence[str]) -> FinalLines:
    wanted = set(trace_ids)
    finals: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for line in lines:
        if line.get("event") in FINAL_EVENTS and line.get("trace_id") in wanted:
            finals[str(line["trace_id"])].append(line)
    missing = tuple(t for t in trace_ids if not finals.get(t))
    repeated = tuple(t for t in trace_ids if len(finals.get(t, ())) > 1)
    without_status = tuple(
        t for t in trace_ids if len(finals.get(t, ())) == 1 and finals[t][0].get("status") is None
    )
    exactly_one = sum(
        1
        for t in trace_ids
        if len(finals.get(t, ())) == 1 and finals[t][0].get("status") is not None
    )
    return FinalLines(
        requests=len(trace_ids),
        exactly_one=exactly_one,
        missing=missing,
        repeated=repeated,
        without_status=without_status,
        sides={t: str(finals[t][0].get("side", "")) for t in trace_ids if finals.get(t)},
    )


@dataclass(frozen=True)
class TaskTraces:
    """The tasks a set of requests caused, and whether each line of each carries its id."""

    tasks: int
    carrying: int  # every line of the task carries the causing request's trace id
    strays: tuple[str, ...]  # task ids with a line under another id, or none
    by_name: Mapping[str, int]  # tasks per task name, among those carrying

    @property
    def share(self) -> float:
        return self.carrying / self.tasks if self.tasks else 1.0


def task_traces(
    lines: Sequence[Mapping[str, Any]], caused_by: Mapping[str, Sequence[str]]
) -> TaskTraces:
    """``caused_by`` maps a request's trace id to the identifiers its work is named by.

    The project's tasks that come from the outbox are named after what they carry (an order's
    number, an invoice's), so a task belongs to the request whose order or invoice its id
    names; tasks named by a random id (a dispatch) belong to it by the trace id they carry.
    """
    owner_of: dict[str, str] = {}
    by_task: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for line in lines:
        task_id = line.get("task_id")
        if isinstance(task_id, str) and task_id:
            by_task[task_id].append(line)
    for task_id, task_lines in by_task.items():
        for trace, names in caused_by.items():
            named = any(_names(task_id, name) for name in names)
            carried = any(line.get("trace_id") == trace for line in task_lines)
            if named or carried:
                owner_of[task_id] = trace
                break
    strays = tuple(
        task_id
        for task_id, trace in owner_of.items()
        if any(line.get("trace_id") != trace for line in by_task[task_id])
    )
    kinds = Counter(
        str(by_task[task_id][0].get("task", "?")) for task_id in owner_of if task_id not in strays
    )
    return TaskTraces(
        tasks=len(owner_of),
        carrying=len(owner_of) - len(strays),
        strays=strays,
        by_name=dict(sorted(kinds.items())),
    )


def _names(task_id: str, name: str) -> bool:
    """Whether ``task_id`` names ``name`` as a whole part (ORD-000001 is not ORD-0000012)."""
    return any(part == name for part in task_id.replace(">", ":").split(":"))
