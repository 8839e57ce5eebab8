"""``manage.py outbox``: what the outbox owes, failed work run again, done messages purged.

    outbox status [--json]
    outbox retry KEY [KEY ...] [--actor NAME]     failed tasks by outbox key or task id
    outbox retry --task NAME [--actor NAME]       every failed task of one task
    outbox purge [--older-than DAYS] (--dry-run | --yes) [--actor NAME]

``retry`` runs a failed task again once, however often it is asked and by whom (the admin's
"Run the selected tasks again" does the same, through ``outbox.operations``); one already run
again is reported and left alone. ``purge`` deletes done messages only: owed messages and
messages given up on are never selected. It deletes nothing without ``--yes``; ``--dry-run``
counts instead. Exit status: 0 done (nothing to do included), 1 refused (an unknown key or
task, the broker not taking a task sent anew), 2 usage.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from observability.operators import shell_actor
from outbox import broker, operations
from outbox.models import FailedTask


class Command(BaseCommand):
    help = "See what the outbox owes, run failed tasks again, purge done messages."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
        status = commands.add_parser("status", help="messages owed, given up, done; failed tasks")
        status.add_argument("--json", action="store_true")

        retry = commands.add_parser("retry", help="run failed tasks again, each once")
        retry.add_argument("keys", nargs="*", metavar="KEY", help="outbox key or task id")
        retry.add_argument("--task", help="every failed task of this task (its dotted name)")
        retry.add_argument("--actor", default=None)

        purge = commands.add_parser("purge", help="delete done messages older than N days")
        purge.add_argument(
            "--older-than",
            type=int,
            default=settings.OUTBOX_RETENTION_DAYS,
            metavar="DAYS",
            help=f"at least 1 (default OUTBOX_RETENTION_DAYS, {settings.OUTBOX_RETENTION_DAYS})",
        )
        chosen = purge.add_mutually_exclusive_group()
        chosen.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        chosen.add_argument("--yes", action="store_true", help="delete them")
        purge.add_argument("--actor", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        subcommand = options["subcommand"]
        if subcommand == "status":
            self._status(as_json=options["json"])
        elif subcommand == "retry":
            self._retry(options["keys"], options["task"], options["actor"] or shell_actor())
        else:
            self._purge(
                options["older_than"],
                dry_run=options["dry_run"],
                confirmed=options["yes"],
                actor=options["actor"] or shell_actor(),
            )

    def _status(self, *, as_json: bool) -> None:
        tasks = operations.status()
        if as_json:
            self.stdout.write(json.dumps([asdict(task) for task in tasks], indent=2, default=str))
            return
        owed = sum(task.owed for task in tasks)
        late = sum(task.past_lease for task in tasks)
        given_up = sum(task.given_up for task in tasks)
        failed = sum(task.failed_tasks for task in tasks)
        done = sum(task.done for task in tasks)
        self.stdout.write(
            f"outbox: {owed} owed ({late} past their lease), {given_up} given up on, {done} done; "
            f"{failed} failed task(s) not run again"
        )
        if not tasks:
            return
        width = max(len(task.task) for task in tasks)
        self.stdout.write(
            f"{'task':<{width}}  {'owed':>6} {'unpub':>6} {'late':>6} {'given up':>8} "
            f"{'done':>8} {'failed':>6}  oldest owed"
        )
        for task in tasks:
            oldest = task.oldest_owed.isoformat(timespec="seconds") if task.oldest_owed else "-"
            self.stdout.write(
                f"{task.task:<{width}}  {task.owed:>6} {task.unpublished:>6} {task.past_lease:>6} "
                f"{task.given_up:>8} {task.done:>8} {task.failed_tasks:>6}  {oldest}"
            )

    def _retry(self, keys: list[str], task: str | None, actor: str) -> None:
        if bool(keys) == bool(task):
            raise CommandError("name the failed tasks: KEY ... or --task NAME", returncode=2)
        if task:
            current_app.loader.import_default_modules()  # every app's tasks, as a worker has
            if task not in current_app.tasks:
                raise CommandError(f"no such task: {task}", returncode=1)
            found = FailedTask.objects.filter(task=task, requeued_at__isnull=True)
        else:
            found, unknown = operations.failed_tasks(keys)
            if unknown:
                raise CommandError(f"no failed task for: {', '.join(unknown)}", returncode=1)
        try:
            retried = operations.retry(found, actor=actor)
        except broker.BrokerUnavailable as error:
            raise CommandError(
                f"stopped: the broker did not take a task sent anew ({error}); it stays failed, "
                "run this again once the broker answers",
                returncode=1,
            ) from error
        for task_id in retried.owed_again:
            self.stdout.write(f"{task_id}: owed again, its message handed to the broker")
        for task_id in retried.sent_again:
            self.stdout.write(f"{task_id}: sent again with the same arguments")
        for task_id in retried.already:
            self.stdout.write(f"{task_id}: already run again, left alone")
        if not retried.count and not retried.already:
            self.stdout.write(f"no failed task of {task} to run again")

    def _purge(self, days: int, *, dry_run: bool, confirmed: bool, actor: str) -> None:
        if days < 1:
            raise CommandError("--older-than must be at least 1 day", returncode=2)
        if not (dry_run or confirmed):
            raise CommandError(
                "purge deletes done outbox messages: add --yes to delete them, or --dry-run "
                "to count them",
                returncode=2,
            )
        cutoff = timezone.now() - timedelta(days=days)
        if dry_run:
            count = operations.count_done_before(cutoff)
            self.stdout.write(f"would delete {count} done message(s) done before {cutoff:%c}")
        else:
            count = operations.purge_done(cutoff, actor=actor)
            self.stdout.write(f"deleted {count} done message(s) done before {cutoff:%c}")
        self.stdout.write("owed messages and messages given up on are never purged")
        if days < settings.OUTBOX_RETENTION_DAYS:
            self.stdout.write(
                f"note: younger than OUTBOX_RETENTION_DAYS ({settings.OUTBOX_RETENTION_DAYS}): "
                "a writer that runs again records a new message, and its receiver's "
                "idempotency key makes it do nothing"
            )
