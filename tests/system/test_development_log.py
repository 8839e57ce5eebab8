"""The development log of the running system, read as a developer reads `make run`'s output.

gunicorn, a worker on every queue and beat run as `make run` starts them, on the embedded
defaults' console format at INFO, with the supplier failing every call. Orders are placed on
both paths; then the three logs are read: each deferred dispatch is one line with its reason,
no traceback and no customer data anywhere, no raw mail (each mail one line, the mails in
files), no access line beside the request's own, no beat or Celery chatter, no kombu warning.
"""

from __future__ import annotations

import json
import pickle
import shelve
import urllib.request
from pathlib import Path
from typing import Any

from bench.harness.mails import read_messages
from tests.system.conftest import (
    RunningSystem,
    api_token,
    celery_process,
    http,
    purge_queues,
    start_system,
    wait_for,
)

CUSTOMER = {
    "customer_name": "Grace Hopper",
    "customer_email": "grace@example.com",
    "shipping_address": "7 Compiler Court, Arlington",
    "lines": [{"sku": "BOX-S", "quantity": 1}],
}
PERSONAL = ("grace@example.com", "Compiler Court", "Grace Hopper")
# Sweeps every second, so that beat has something to chatter about within the test.
FAST_SWEEPS = {
    "DISPATCH_SWEEP_SECONDS": "1",
    "OUTBOX_SWEEP_SECONDS": "1",
    "OWED_WORK_SWEEP_SECONDS": "1",
    "SUPPLIER_BACKGROUND_ATTEMPTS": "1",
    "LOG_LEVEL": "INFO",
}


def accept(system: RunningSystem, key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{system.web}/api/v1/orders/",
        data=json.dumps(CUSTOMER).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Token {key}",
            "Idempotency-Key": "development-log-1",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        accepted: dict[str, Any] = json.loads(response.read())
        return accepted


def beat_runs(var_dir: Path, entry: str) -> int:
    """How often beat sent ``entry``, from the schedule it saves after each task it sends."""
    try:
        # beat's own schedule file, written by the beat this test runs
        with shelve.open(str(var_dir / "celerybeat-schedule"), flag="r") as schedule:  # noqa: S301
            return int(schedule["entries"][entry].total_run_count)
    except (OSError, KeyError, EOFError, pickle.UnpicklingError):  # not written yet, or mid-write
        return 0


WORKER = ["worker", "--pool", "threads", "--concurrency", "4", "--without-gossip",
          "--without-mingle", "--queues", "intake,logistics,invoices,notifications",
          "--loglevel", "INFO"]  # fmt: skip
# The Procfile's beat, with a scheduler that saves its schedule after each task it sends.
BEAT = ["beat", "--loglevel", "INFO", "--scheduler", "tests.system.beat:SavingScheduler"]


def test_make_runs_log_says_each_thing_once_readably_and_nothing_personal(tmp_path):
    paths = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "beat")}
    with start_system(
        tmp_path / "var", workers=1, extra_env=FAST_SWEEPS, web_log=paths["web"]
    ) as system:
        purge_queues(system)
        system.supplier.set_chaos(failure_rate=1.0)
        with (
            celery_process(system, paths["worker"], WORKER),
            celery_process(system, paths["beat"], BEAT),
        ):
            for _ in range(2):
                status, body = http(f"{system.web}/api/orders/", "POST", CUSTOMER)
                assert (status, json.loads(body)["shipping_status"]) == (
                    201,
                    "dispatch_failed",
                )
            accept(system, api_token(system))
            wait_for(
                lambda: "task_retrying" in paths["worker"].read_text(),
                timeout=90,
                describe=lambda: paths["worker"].read_text()[-3000:],
            )
            mails = system.var_dir / "mail"
            wait_for(lambda: len(read_messages(mails)) == 6, timeout=60, describe="6 mails")
            # Chatter needs something to chatter about: beat has sent a few sweeps.
            wait_for(
                lambda: beat_runs(system.var_dir, "sweep-outbox") >= 3,
                timeout=60,
                describe="three outbox sweeps sent by beat",
            )

    web, worker, beat = (paths[name].read_text() for name in ("web", "worker", "beat"))
    everything = web + worker + beat
    deferred = [line for line in web.splitlines() if "dispatch_deferred" in line]
    assert len(deferred) == 2 and all("reason='supplier error: 503'" in d for d in deferred)
    # The worker's deferrals (the v1 order's, and the sweep's of the legacy ones): one line each.
    retrying = [line for line in worker.splitlines() if "task_retrying" in line]
    assert retrying and all("reason=" in line and "retry_in_s=" in line for line in retrying)
    assert "reason='supplier unavailable: HTTP 503'" in retrying[0]
    assert "Traceback" not in everything
    for personal in PERSONAL:
        assert personal not in everything
    # Mails: one line each, in files, none printed.
    assert everything.count("mail_written") == 6
    assert "Content-Type:" not in everything
    # One line per request: the request log's, no access line from gunicorn.
    assert web.count("request='POST /api/orders/'") == 2
    assert '"POST /api/orders/ HTTP/1.1"' not in web
    # No chatter at INFO, though beat sent a sweep every second.
    for chatter in ("Sending due task", "] received", "succeeded in", "result=0"):
        assert chatter not in everything, chatter
    assert "No hostname was supplied" not in everything
