"""The running system with a Redis of its own, and what is needed to break it and count the cost.

Shared by tests/system/test_broker_loss.py and bench/redis_loss.py (the harness lives once):
``broken_system`` starts the system of tests/system/conftest.py with its broker and cache on a
private redis-server, the Procfile's two workers and beat; ``Workers`` starts them and kills
them all with SIGKILL; ``place_orders`` posts orders to ``POST /api/v1/orders/``; ``outcome``
reads what became of them from both databases, the supplier's ledger, the mail files and the
PDF files, so that "done exactly once" is checked against what left the system.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness.mails import message_text, read_messages
from bench.harness.processes import kill_group, start_in_session, stop_group
from tests.redis_server import RedisServer
from tests.system.conftest import (
    RunningSystem,
    api_token,
    purge_queues,
    query,
    start_system,
)

QUEUES = {
    # The Procfile's layout: one prefork worker for intake, invoices and mails, one threaded
    # dispatcher for the logistics queue.
    "worker": ["--queues", "intake,invoices,notifications", "--concurrency", "2"],
    "dispatcher": ["--queues", "logistics", "--pool", "threads", "--concurrency", "4"],
}

# Short leases and sweeps, so a run takes a minute instead of several: every bound scales with
# them (docs/adr/0015 gives the formula; the defaults are measured by bench/redis_loss.py).
QUICK_SWEEPS = {
    "OUTBOX_SWEEP_SECONDS": "2",
    "OUTBOX_RELAY_GRACE_SECONDS": "3",
    "OUTBOX_LEASE_SECONDS": "5",
    "OWED_WORK_LEASE_SECONDS": "8",
    "OWED_WORK_SWEEP_SECONDS": "2",
    "DISPATCH_SWEEP_SECONDS": "2",
    "DISPATCH_CLAIM_SECONDS": "5",
    "CELERY_TASK_SOFT_TIME_LIMIT": "15",
    "CELERY_TASK_TIME_LIMIT": "20",
}


@dataclass
class BrokenSystem:
    system: RunningSystem
    redis: RedisServer
    workers: Workers
    token: str
    logs: Path


class Workers:
    """The two workers and beat, each in a session of its own (so a kill takes its pool).

    Supervised as docker-compose's ``restart: unless-stopped`` does: a process that exits by
    itself is started again (the threaded dispatcher exits on a lost Redis: kombu's
    ``AttributeError`` while it restores its unacknowledged messages, logged as "Unrecoverable
    error"). ``exits`` counts those restarts.
    """

    def __init__(self, system: RunningSystem, logs: Path, *, beat: bool = True) -> None:
        self.system = system
        self.logs = logs
        self.beat = beat
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, list[str]] = {}
        self.starts = 0
        self.exits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._supervising = threading.Event()
        self._supervisor: threading.Thread | None = None

    def _supervise(self) -> None:
        while self._supervising.wait(0.5):
            with self._lock:
                for name, process in list(self.processes.items()):
                    if process.poll() is not None:
                        self.exits[name] += 1
                        self._spawn(name, self.commands[name])

    def _spawn(self, name: str, command: list[str]) -> None:
        self.commands[name] = command
        self.starts += 1
        with (self.logs / f"{name}-{self.starts}.log").open("w") as output:
            self.processes[name] = start_in_session(
                [sys.executable, "-m", "celery", "-A", "config", *command],
                {**self.system.env, "LOG_LEVEL": "INFO"},
                output,
            )

    def start(self) -> None:
        with self._lock:
            for name, options in QUEUES.items():
                self._spawn(
                    name,
                    ["worker", "-n", f"{name}@%h", *options, "--without-gossip",
                     "--without-mingle", "--loglevel", "INFO"],
                )  # fmt: skip
            if self.beat and "beat" not in self.processes:
                self._spawn("beat", ["beat", "--schedule", str(self.logs / "beat-schedule")])
        if self._supervisor is None:
            self._supervising.set()
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()

    def kill_workers(self) -> None:
        """SIGKILL every worker and its pool at once: what they held is theirs no more."""
        with self._lock:
            for name in QUEUES:
                kill_group(self.processes.pop(name))

    def stop(self) -> None:
        self._supervising.clear()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
            self._supervisor = None
        with self._lock:
            for process in self.processes.values():
                stop_group(process)
            self.processes.clear()

    def log_text(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.logs.glob("*.log")))


@contextmanager
def broken_system(
    directory: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[BrokenSystem]:
    """The system on a private Redis (broker database 0, cache 1), its workers and beat."""
    (directory / "mail").mkdir(parents=True)
    logs = directory / "logs"
    logs.mkdir()
    with RedisServer(directory / "redis") as redis:
        env = {
            "REDIS_URL": redis.url(0),
            "CACHE_URL": redis.url(1),
            "LOG_FORMAT": "json",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(directory / "mail"),
            **(extra_env if extra_env is not None else QUICK_SWEEPS),
        }
        with start_system(directory, workers=1, extra_env=env, suite_database=True) as system:
            purge_queues(system)
            workers = Workers(system, logs)
            workers.start()
            try:
                yield BrokenSystem(system, redis, workers, api_token(system), logs)
            finally:
                workers.stop()


@dataclass
class Posted:
    request_ids: list[int] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def post_order(broken: BrokenSystem, label: str, timeout: float = 10.0) -> tuple[int, int, float]:
    """One order (its own customer, its own Idempotency-Key): status, request id, seconds."""
    body = {
        "customer_name": f"Customer {label}",
        "customer_email": f"{label}@example.com",
        "shipping_address": "7 Worker Way",
        "lines": [{"sku": "BOX-S", "quantity": 1}],
    }
    request = urllib.request.Request(
        f"{broken.system.web}/api/v1/orders/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Token {broken.token}",
            "Idempotency-Key": label,
        },
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, 0, time.perf_counter() - started
    return status, int(payload["id"]), time.perf_counter() - started


def place_orders(broken: BrokenSystem, labels: list[str], *, concurrency: int = 4) -> Posted:
    posted = Posted()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for status, request_id, seconds in pool.map(
            lambda label: post_order(broken, label), labels
        ):
            posted.statuses.append(status)
            posted.request_ids.append(request_id)
            posted.seconds.append(seconds)
    return posted


@dataclass(frozen=True)
class Outcome:
    """What became of some order requests, from the databases and what left the system."""

    requests: dict[int, str]  # request id -> status
    numbers: list[str]  # the orders placed
    shipments: dict[str, list[str]]  # order -> statuses of its shipments
    dispatches: dict[str, int]  # order -> entries in the supplier's ledger
    rendered: dict[str, int | None]  # order -> rendered version of its invoice
    pdf_files: dict[str, int]  # order -> PDF files of its invoice
    mails: dict[str, int]  # order -> mails (Message-IDs) that name its customer (to, or text)
    mails_sent_again: int  # messages sent again under a Message-ID sent before
    unsent: int  # its notifications not sent
    failed_tasks: int

    def done(self) -> bool:
        return (
            bool(self.numbers)
            and all(status == "placed" for status in self.requests.values())
            and len(self.numbers) == len(self.requests)
            and all(
                self.shipments.get(number) == ["dispatched"]
                and self.dispatches.get(number) == 1
                and self.rendered.get(number) == 1
                and self.pdf_files.get(number) == 1
                and self.mails.get(number) == 2
                for number in self.numbers
            )
            and self.unsent == 0
        )

    def doubled(self) -> dict[str, list[str]]:
        """Anything done more than once: which orders, by kind of effect."""
        return {
            kind: sorted(number for number, count in counts.items() if (count or 0) > limit)
            for kind, counts, limit in (
                ("dispatches", self.dispatches, 1),
                ("pdf files", self.pdf_files, 1),
                ("mails", self.mails, 2),
                ("shipments", {n: len(s) for n, s in self.shipments.items()}, 1),
            )
            if any((count or 0) > limit for count in counts.values())
        }

    def summary(self) -> str:
        placed = sum(status == "placed" for status in self.requests.values())
        return (
            f"{placed}/{len(self.requests)} placed, "
            f"{sum(s == ['dispatched'] for s in self.shipments.values())} dispatched, "
            f"{sum(v == 1 for v in self.rendered.values())} rendered, "
            f"{sum(self.mails.values())} mails ({self.mails_sent_again} sent again), "
            f"{self.unsent} unsent, "
            f"{self.failed_tasks} failed tasks, doubled: {self.doubled()}"
        )


def outcome(broken: BrokenSystem, request_ids: list[int]) -> Outcome:
    state = query(
        broken.system,
        f"""
from logistics.models import ShipmentRecord
from monolithos.models import Invoice, OrderRequest
from notifications.models import Notification
from outbox.models import FailedTask
requests = OrderRequest.objects.filter(pk__in={request_ids!r})
numbers = [n for n in requests.values_list("order__number", flat=True) if n]
shipments = {{}}
for ref, status in ShipmentRecord.objects.filter(order_ref__in=numbers).values_list(
        "order_ref", "status"):
    shipments.setdefault(ref, []).append(status)
result = {{
    "requests": {{str(pk): status for pk, status in requests.values_list("pk", "status")}},
    "numbers": sorted(numbers),
    "shipments": shipments,
    "rendered": dict(Invoice.objects.filter(order__number__in=numbers)
                     .values_list("order__number", "rendered_version")),
    "emails": dict(requests.filter(order__isnull=False)
                   .values_list("order__number", "order__customer__email")),
    "unsent": Notification.objects.filter(
        idempotency_key__in=[f"{{kind}}:{{n}}" for n in numbers
                             for kind in ("order-confirmation", "sales-new-order")]
    ).exclude(status="sent").count(),
    "failed_tasks": FailedTask.objects.count(),
}}
""",
    )
    numbers: list[str] = state["numbers"]
    ledger = Counter(str(d["order_ref"]) for d in broken.system.supplier.ledger())
    invoices = broken.system.var_dir / "media" / "invoices"
    pdfs = Counter(
        path.name.split(".")[0].split("_")[0].replace("INV-", "ORD-")
        for path in (invoices.iterdir() if invoices.is_dir() else [])
    )
    sent = read_messages(broken.system.var_dir / "mail")
    # A mail sent again after its worker died between the mail server and the commit carries
    # the same Message-ID: the same message to its reader (notifications.services.message_id).
    mail_texts = {str(m["Message-ID"]): message_text(m) for m in sent}.values()
    return Outcome(
        requests={int(pk): status for pk, status in state["requests"].items()},
        numbers=numbers,
        shipments=state["shipments"],
        dispatches={number: ledger[number] for number in numbers},
        rendered=state["rendered"],
        pdf_files={number: pdfs[number] for number in numbers},
        mails={
            number: sum(state["emails"][number] in text for text in mail_texts)
            for number in numbers
        },
        mails_sent_again=len(sent) - len(mail_texts),
        unsent=int(state["unsent"]),
        failed_tasks=int(state["failed_tasks"]),
    )


def owed_now(broken: BrokenSystem) -> dict[str, int]:
    """What the database says is owed right now: requests not placed, messages not done."""
    result: dict[str, int] = query(
        broken.system,
        """
from monolithos.models import OrderRequest
from outbox.models import OWED, OutboxMessage
result = {
    "requests_received": OrderRequest.objects.filter(status="received").count(),
    "messages_owed": OutboxMessage.objects.filter(OWED).count(),
}
""",
    )
    return result


def wait_until_done(
    broken: BrokenSystem, request_ids: list[int], *, timeout: float
) -> tuple[Outcome, float]:
    """Poll until every request's work is done; the outcome and the seconds it took.

    Gives up after ``timeout`` seconds and returns the outcome as it stands (the caller checks).
    """
    started = time.monotonic()
    while True:
        current = outcome(broken, request_ids)
        elapsed = time.monotonic() - started
        if current.done() or elapsed > timeout:
            return current, elapsed
        time.sleep(1.0)


def metric(broken: BrokenSystem, name: str, **labels: str) -> float:
    """A sample of the web's /metrics (0 when absent)."""
    with urllib.request.urlopen(f"{broken.system.web}/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            label_part = line[len(name) :].split(" ")[0].strip("{}")
            if wanted <= set(label_part.split(",")):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


HANDOVER_EVENTS = {
    "outbox_stranded_messages_relayed": "published",
    "outbox_messages_republished": "count",
    "order_requests_handed_over_again": "count",
    "orders_without_shipment_handed_over_again": "count",
    "pending_invoices_handed_over_again": "count",
    "queued_notifications_handed_over_again": "count",
    "due_shipments_enqueued": "count",
}


def handovers(broken: BrokenSystem) -> Counter[str]:
    """What the sweeps handed over so far, by their log lines (JSON) in the workers' logs."""
    counted: Counter[str] = Counter()
    for line in broken.workers.log_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        field_name = HANDOVER_EVENTS.get(entry.get("event", ""))
        if field_name is not None:
            counted[entry["event"]] += int(entry.get(field_name, 0))
    return counted
