"""``manage.py breaker``: see and drive the supplier's circuit breaker, for every process at once.

    breaker status [--json]
    breaker open --reason "..." [--actor NAME]    held open: no call, no probe, until closed
    breaker close --reason "..." [--actor NAME]   closed now, the hold lifted, nothing counted
    breaker reset --reason "..." [--actor NAME]   every stored count and lease forgotten

The state is the one every process reads (Redis with REDIS_URL, else the SQLite file of
BREAKER_STATE_FILE: docs/adr/0024), so a command here opens or closes the breaker of every web
and worker process. Each change is logged (``circuit_breaker_operator``, with the reason and
who: ``--actor``, else the operating system's user) and its note kept beside the state, where
``status`` and ``/readyz`` show it. Exit status: 0 done (a change already in effect is done
again, and says so), 1 the state's store cannot be reached (nothing changed, or nothing
known), 2 usage (a missing or empty reason).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from logistics.adapters.breaker import SharedCircuitBreaker
from logistics.adapters.breaker_storage import BreakerSnapshot
from logistics.wiring import supplier_breaker
from observability.operators import shell_actor

logger = structlog.get_logger(__name__)

# What each command does to the shared state, and what it then says.
CHANGES = {
    "open": "held open: every process refuses supplier calls, and no probe is let through, "
    "until `breaker close`",
    "close": "closed: every process calls the supplier again; the run of failures starts at 0",
    "reset": "reset: closed, with no failures, lease or hold remembered (no transition logged)",
}


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class Command(BaseCommand):
    help = "Show and change the supplier circuit breaker's shared state."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
        status = commands.add_parser("status", help="state, failures, probe lease, storage")
        status.add_argument("--json", action="store_true", help="the state as JSON")
        for name, text in CHANGES.items():
            change = commands.add_parser(name, help=text.split(":")[0])
            change.add_argument("--reason", required=True, help="why: logged and kept")
            change.add_argument("--actor", default=None, help="who (default: the OS user)")

    def handle(self, *args: Any, **options: Any) -> None:
        breaker = supplier_breaker()
        if options["subcommand"] == "status":
            self._status(breaker, as_json=options["json"])
            return
        reason = options["reason"].strip()
        if not reason:
            raise CommandError("--reason must say why", returncode=2)
        self._change(breaker, options["subcommand"], reason, options["actor"] or shell_actor())

    def _change(self, breaker: SharedCircuitBreaker, command: str, reason: str, actor: str) -> None:
        before = breaker.state()
        note = f"{command} by {actor} at {_when(datetime.now(UTC).timestamp())}: {reason}"
        operation = {"open": breaker.force_open, "close": breaker.force_close}.get(
            command, breaker.reset
        )
        try:
            operation(note)
        except Exception as error:
            raise CommandError(
                f"nothing changed: the breaker's state could not be written "
                f"({breaker.storage.where}): {error}",
                returncode=1,
            ) from error
        after = breaker.state()
        logger.warning(
            "circuit_breaker_operator",
            breaker=breaker.config.name,
            command=command,
            reason=reason,
            actor=actor,
            from_state=before.state,
            to_state=after.state,
        )
        unchanged = (before.state, before.forced) == (after.state, after.forced)
        self.stdout.write(
            f"{breaker.config.name} breaker {CHANGES[command]}"
            + (f" (it was already {self._described(before)})" if unchanged else "")
        )

    def _status(self, breaker: SharedCircuitBreaker, *, as_json: bool) -> None:
        snapshot = breaker.state()
        if as_json:
            state = {
                **asdict(snapshot),
                "storage": breaker.storage.where,
                "fail_max": breaker.config.fail_max,
                "reset_timeout_seconds": breaker.config.reset_timeout_seconds,
            }
            self.stdout.write(json.dumps(state, indent=2))
        else:
            self._print_status(breaker, snapshot)
        if snapshot.unknown:
            raise CommandError(
                f"the breaker's state cannot be read ({breaker.storage.where}): calls go "
                "through, as when closed",
                returncode=1,
            )

    def _print_status(self, breaker: SharedCircuitBreaker, snapshot: BreakerSnapshot) -> None:
        config = breaker.config
        lines = [
            f"{config.name} breaker: {self._described(snapshot)}",
            f"  failures in a row: {snapshot.failures} (opens at {config.fail_max}, "
            "BREAKER_FAIL_MAX)",
            f"  opened at:         {_when(snapshot.opened_at)}",
            f"  probe lease:       {self._probe(snapshot)}",
            f"  storage:           {breaker.storage.where}",
            f"  last operator:     {snapshot.note or '-'}",
        ]
        if not settings.REDIS_URL:
            lines.append("  (REDIS_URL unset: shared by the processes of this host only)")
        self.stdout.write("\n".join(lines))

    @staticmethod
    def _described(snapshot: BreakerSnapshot) -> str:
        if snapshot.unknown:
            return "UNKNOWN (its store cannot be reached: calls go through, as when closed)"
        if snapshot.forced and snapshot.state == "open":
            return "OPEN, held by an operator"
        return {"closed": "closed", "open": "OPEN", "half_open": "HALF-OPEN (probing)"}[
            snapshot.state
        ]

    @staticmethod
    def _probe(snapshot: BreakerSnapshot) -> str:
        if snapshot.state == "closed" or snapshot.unknown:
            return "- (closed: every call goes through)"
        if snapshot.forced:
            return "none: held open, no probe until `breaker close`"
        left = snapshot.seconds_until_probe or 0.0
        if snapshot.state == "open":
            return f"the first caller in {left:.1f} s probes (BREAKER_RESET_TIMEOUT)"
        if left > 0:
            return f"held by a caller for {left:.1f} s more (until it answers)"
        return "free: the next caller probes"
