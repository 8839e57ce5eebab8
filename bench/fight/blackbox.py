"""The black box round: requests that end badly on purpose, and what the logs still say of them.

The attack was the black box: requests that dropped without a line, tasks nobody could tie to
the request that caused them. The defense is a trace id through every layer and one final line
per request (docs/adr/0002, 0018). On the running system (``arena``) the round sends, each with
a trace id of its own: orders placed on both sides of the placement route, a view that raises
(``/bench/raise/``, mounted by the bench's settings only), clients that hang up mid-request, a
request that outlives the server's timeout, malformed bodies, and an order whose invoice task
is killed with SIGKILL mid-render (tests/system/slow_render_worker.py stands in for the
invoices worker; the broker redelivers the task). Then it reads the JSON lines every process
wrote. The round holds when every request has exactly one final line with its status and
trace id, each placement's names the side that served it, and every task the new side's
placements caused carries their trace id on every line, the killed one included.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fight import traffic_charts as charts
from bench.fight.arena import SERVER_TIMEOUT_S, Arena, restart_worker, trace_id, worker_argv
from bench.fight.logs import FinalLines, TaskTraces, final_lines, json_lines, task_traces
from bench.fight.outcome import Defense, RoundResult, Table
from bench.fight.progress import Progress
from bench.fight.source_tree import ROOT
from bench.fight.traffic import Answer, call
from bench.fight.work import observe
from bench.harness.client import SKU, order_body

NAME = "blackbox"
TITLE = "The black box: a trace id through every layer, one final line per request"
STEPS = 7
SLOW_WORKER = ROOT / "tests" / "system" / "slow_render_worker.py"
# The work a placement on the new side hands to the workers, each a task of its own.
CAUSED_TASKS = (
    "logistics.tasks.create_shipment",
    "logistics.tasks.dispatch_shipment",
    "monolithos.tasks.render_invoice",
    "notifications.tasks.send_notification",
)


@dataclass(frozen=True)
class Sent:
    """One request of the round: what it was, its trace id, what the client saw."""

    kind: str
    side: str
    trace_id: str
    status: int | None


def _placed(answer: Answer) -> Sent:
    return Sent(f"order placed ({answer.side})", answer.side, answer.trace_id, answer.status)


def hang_up(port: int, path: str, after_s: float) -> Sent:
    """Send a request and close the connection before the answer comes."""
    trace = trace_id()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {trace}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        time.sleep(after_s)
    return Sent("client hung up mid-request", "", trace, None)


def bad_endings(port: int, count: int) -> list[Sent]:
    """The view that raises, hang-ups, malformed bodies and one request past the timeout."""
    sent: list[Sent] = []
    late: list[Sent] = []

    def past_timeout() -> None:
        seconds = SERVER_TIMEOUT_S + 1
        answer = call(port, "GET", f"/bench/slow/?seconds={seconds}", kind="late", side="")
        late.append(Sent("past the server's timeout", "", answer.trace_id, answer.status))

    slow = threading.Thread(target=past_timeout)
    slow.start()
    for _ in range(count):
        answer = call(port, "GET", "/bench/raise/", kind="raise", side="")
        sent.append(Sent("view raised", "", answer.trace_id, answer.status))
        sent.append(hang_up(port, "/bench/slow/?seconds=1", 0.2))
        answer = call(port, "POST", "/api/orders/", kind="malformed", side="new", body=None)
        sent.append(Sent("malformed body", "", answer.trace_id, answer.status))
    slow.join()
    return sent + late


def wait_until(what: str, done: Callable[[], bool], arena: Arena, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        arena.processes.check()
        if time.monotonic() > deadline:
            print(f"   {what}: not within {seconds:.0f} s", file=sys.stderr)
            return False
        time.sleep(0.3)
    return True


def invoice_numbers(numbers: Sequence[str]) -> dict[str, str]:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT o.number, i.number FROM monolithos_invoice i JOIN monolithos_order o "
            "ON o.id = i.order_id WHERE o.number = ANY(%s)",
            [list(numbers)],
        )
        return {row[0]: row[1] for row in cursor.fetchall()}


def place(arena: Arena, side: str, tag: str) -> tuple[Answer, str]:
    email = arena.customer(tag)
    body = order_body(arena.customers, arena.run.run_id, (SKU,))
    body["customer_email"] = email
    return call(arena.web_port, "POST", "/api/orders/", kind="place", side=side, body=body), email


@dataclass(frozen=True)
class Kill:
    trace_id: str
    number: str
    killed_pid: int
    rendered_after: bool


def kill_mid_render(arena: Arena) -> Kill:
    """An order on the new side whose invoice render is SIGKILLed while it runs."""
    markers = arena.run.directory / "render-markers"
    markers.mkdir(exist_ok=True)
    arena.processes.stop(["worker3"])
    env = {**arena.env, "RENDER_MARKER_DIR": str(markers), "PYTHONPATH": str(ROOT)}
    slow = [
        "nice", "-n", "10", sys.executable, str(SLOW_WORKER), "-n", f"slow-{arena.run.run_id}@%h",
        "--queues", "invoices", "--concurrency", "1", "--pool", "prefork",
        "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip
    restart_worker(arena, "worker-slow-render", slow, env)
    answer, email = place(arena, "new", "killed")
    number = str((answer.body or {}).get("number", ""))
    invoice = ""
    if wait_until("its invoice", lambda: bool(invoice_numbers([number])), arena, 30):
        invoice = invoice_numbers([number])[number]
    started: list[Path] = []

    def render_started() -> bool:
        started[:] = list(markers.glob(f"render-{invoice}-*"))
        return bool(started)

    pid = 0
    if invoice and wait_until("the render to start", render_started, arena, 60):
        pid = int(started[0].name.rsplit("-", 1)[1])
        os.kill(pid, signal.SIGKILL)
    work = lambda: observe([number], [email], ledger=arena.ledger(), mail_dir=arena.run.mail_dir)  # noqa: E731
    rendered = bool(pid) and wait_until(
        "the redelivered render", lambda: work().invoiced == 1, arena, 90
    )
    arena.processes.stop(["worker-slow-render"])
    restart_worker(
        arena, "worker3-again", worker_argv("invoices", "invoices", arena.run.run_id), arena.env
    )
    return Kill(answer.trace_id, number, pid, rendered)


def run(*, quick: bool, arena: Callable[[], Arena]) -> RoundResult:
    placements = 3 if quick else 25
    endings = 2 if quick else 10
    progress = Progress(NAME, STEPS)
    progress.step("starting the system")
    system = arena()
    system.chaos(failure_rate=0, hang_rate=0)
    sent: list[Sent] = []
    numbers: dict[str, str] = {}  # trace id -> order number (new side)
    emails: list[str] = []
    for side in ("legacy", "new"):
        progress.step(f"orders placed on the {side} side")
        system.set_modes(side)
        for _ in range(placements):
            answer, email = place(system, side, f"blackbox-{side}")
            sent.append(_placed(answer))
            if side == "new" and answer.status == 201:
                numbers[answer.trace_id] = str(answer.body["number"])
                emails.append(email)
    progress.step("requests that end badly: raise, hang up, malformed, past the timeout")
    sent += bad_endings(system.web_port, endings)
    progress.step("waiting for the new side's work")
    wait_until(
        "the new side's orders",
        lambda: (
            observe(
                list(numbers.values()), emails, ledger=system.ledger(), mail_dir=system.run.mail_dir
            ).drained
        ),
        system,
        120,
    )
    progress.step("SIGKILL to the invoices worker mid-render")
    kill = kill_mid_render(system)
    sent.append(Sent("worker killed mid-task (its order)", "new", kill.trace_id, 201))
    if kill.number:
        numbers[kill.trace_id] = kill.number
    progress.step("reading the logs")
    time.sleep(1)  # the last lines' buffers
    directory = system.run.directory
    web = json_lines([directory / "web.log"])
    tasks = json_lines(sorted(directory.glob("worker*.log")))
    invoices = invoice_numbers(list(numbers.values()))
    caused = {t: (n, invoices.get(n, n)) for t, n in numbers.items()}
    result = judge(
        sent,
        final_lines(web, [s.trace_id for s in sent]),
        task_traces(tasks, caused),
        kill,
        caused_per_request=_caused_per_request(tasks, caused),
    )
    progress.finish()
    return result


def _caused_per_request(
    lines: Sequence[dict[str, object]], caused: dict[str, tuple[str, str]]
) -> dict[str, set[str]]:
    """The task names seen under each request's trace id."""
    seen: dict[str, set[str]] = {trace: set() for trace in caused}
    for line in lines:
        trace = line.get("trace_id")
        if isinstance(trace, str) and trace in seen and line.get("task"):
            seen[trace].add(str(line["task"]))
    return seen


def judge(
    sent: Sequence[Sent],
    finals: FinalLines,
    traces: TaskTraces,
    kill: Kill,
    *,
    caused_per_request: dict[str, set[str]],
) -> RoundResult:
    wrong_side = [
        s
        for s in sent
        if s.side and s.kind.startswith("order placed") and finals.sides.get(s.trace_id) != s.side
    ]
    short = {t: set(CAUSED_TASKS) - names for t, names in caused_per_request.items()}
    short = {t: missing for t, missing in short.items() if missing}
    defenses = (
        Defense(
            "every request ends with exactly one final line, with its status and trace id",
            finals.share == 1.0,
            f"{finals.exactly_one} of {finals.requests}; no line: {len(finals.missing)}, "
            f"two or more: {len(finals.repeated)}, no status: {len(finals.without_status)}",
        ),
        Defense(
            "each placement's final line names the side that served it",
            not wrong_side,
            f"{len(wrong_side)} of {sum(1 for s in sent if s.kind.startswith('order placed'))} "
            "named another side or none",
        ),
        Defense(
            "every task the new side's requests caused carries their trace id on every line",
            traces.share == 1.0 and traces.tasks > 0 and not short,
            f"{traces.carrying} of {traces.tasks} tasks; requests missing a kind of task: "
            f"{len(short)}"
            + "".join(f"; {t[:8]}: {', '.join(sorted(m))}" for t, m in short.items()),
        ),
        Defense(
            "the task killed with SIGKILL mid-render ran again, under its request's trace id",
            bool(kill.killed_pid) and kill.rendered_after and kill.trace_id not in short,
            f"pool process {kill.killed_pid or 'not reached'} killed; "
            f"invoice rendered after: {'yes' if kill.rendered_after else 'no'}",
        ),
    )
    kinds = sorted({s.kind for s in sent})
    rows = []
    for kind in kinds:
        ids = [s.trace_id for s in sent if s.kind == kind]
        one = final_lines_of(finals, ids)
        statuses = sorted({str(s.status) for s in sent if s.kind == kind})
        rows.append((kind, len(ids), one, f"{100 * one / len(ids):.0f} %", ", ".join(statuses)))
    requests = Table.of(
        "Requests and their final lines",
        ("request", "sent", "exactly one final line", "share", "status the client saw"),
        rows,
        "Final line: django-structlog's request_finished or request_failed with status and "
        "trace_id; None: the client had hung up, or had no answer yet.",
    )
    tasks = Table.of(
        "Tasks the new side's placements caused",
        ("task", "carrying the request's trace id"),
        [
            *traces.by_name.items(),
            ("tasks with a line under another id or none", len(traces.strays)),
        ],
    )
    return RoundResult(
        name=NAME,
        title=TITLE,
        summary=(
            f"final lines {finals.exactly_one}/{finals.requests} "
            f"({100 * finals.share:.0f} %) | tasks with their request's trace id "
            f"{traces.carrying}/{traces.tasks} ({100 * traces.share:.0f} %) | SIGKILL mid-render: "
            f"{'ran again' if kill.rendered_after else 'not run again'}"
        ),
        defenses=defenses,
        tables=(requests, tasks),
        charts=(
            charts.final_lines(
                "blackbox-final-lines",
                "Requests that ended badly on purpose, and those with exactly one final line",
                [(kind, row[1], row[2]) for kind, row in zip(kinds, rows, strict=True)],
            ),
        ),
    )


def final_lines_of(finals: FinalLines, trace_ids: Sequence[str]) -> int:
    bad = set(finals.missing) | set(finals.repeated) | set(finals.without_status)
    return sum(1 for t in trace_ids if t not in bad)
