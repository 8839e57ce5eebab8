"""``manage.py strangler``: see and change the traffic shift without a deploy.

    strangler status
    strangler set ROUTE MODE [--percent N] [--sample N] --reason "..."
    strangler kill --reason "..."
    strangler unkill --reason "..."
    strangler mismatches ROUTE [--limit N]

Changes are audited (who: ``--actor``, else the operating system's user) and reach every process
within a second. Bad input (an unknown route or mode, a percent or sample outside 0 to 100, a
sample of 0 or outside shadow, a mode the route does not support, no reason) is refused with the
reason and exit status 2 (usage) or 1 (refused); nothing changes.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strangler import registry, selectors, services
from strangler.modes import Mode


def _default_actor() -> str:
    try:
        return f"{getpass.getuser()} (shell)"
    except Exception:
        return "shell"


class Command(BaseCommand):
    help = "Show and change the strangler's per-route modes and its kill switch."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
        status = commands.add_parser("status", help="every route's mode, the kill switch")
        status.add_argument("--json", action="store_true", help="the ops panel's JSON")

        change = commands.add_parser("set", help="put a route in a mode")
        change.add_argument("route")
        change.add_argument("mode", help=", ".join(mode.value for mode in Mode))
        change.add_argument("--percent", help="canary only: 0 to 100, in 0.01 steps")
        change.add_argument(
            "--sample",
            help="shadow only: the share of routing keys compared, above 0 to 100, in 0.01 steps "
            "(default 100)",
        )
        change.add_argument("--reason", required=True)
        change.add_argument("--actor", default=None)

        for name, text in (("kill", "every route to legacy now"), ("unkill", "lift it")):
            switch = commands.add_parser(name, help=text)
            switch.add_argument("--reason", required=True)
            switch.add_argument("--actor", default=None)

        mismatches = commands.add_parser("mismatches", help="a route's latest shadow mismatches")
        mismatches.add_argument("route")
        mismatches.add_argument("--limit", type=int, default=10)

    def handle(self, *args: Any, **options: Any) -> None:
        subcommand = options["subcommand"]
        actor = options.get("actor") or _default_actor()
        try:
            if subcommand == "status":
                self._status(as_json=options["json"])
            elif subcommand == "set":
                self._report(
                    services.set_mode(
                        route=options["route"],
                        mode=options["mode"],
                        percent=options["percent"],
                        sample=options["sample"],
                        reason=options["reason"],
                        actor=actor,
                        via="command",
                    )
                )
            elif subcommand in ("kill", "unkill"):
                change = services.kill if subcommand == "kill" else services.unkill
                self._report(change(reason=options["reason"], actor=actor, via="command"))
            else:
                self._mismatches(options["route"], options["limit"])
        except (services.ChangeRefused, registry.UnknownRoute) as refused:
            raise CommandError(str(refused), returncode=1) from None

    def _report(self, outcome: services.Outcome) -> None:
        self.stdout.write(outcome.message)
        if not outcome.announced:
            self.stderr.write(
                "warning: the cache did not take the new version; other processes pick the change "
                "up when their copy expires (STRANGLER_STATE_FALLBACK_SECONDS, at most "
                "STRANGLER_STATE_MAX_AGE_SECONDS)"
            )

    def _status(self, *, as_json: bool) -> None:
        state = selectors.status(changes=5)
        if as_json:
            self.stdout.write(json.dumps(state, indent=2))
            return
        switch = state["kill_switch"]
        if switch["engaged"]:
            self.stdout.write(
                f"KILL SWITCH ENGAGED since {switch['changed_at']} by {switch['changed_by']}: "
                f"{switch['reason']} (every route is served by legacy)"
            )
        else:
            self.stdout.write("kill switch: lifted")
        self.stdout.write(f"state version {state['version']}")
        self.stdout.write(f"{'route':<18} {'kind':<6} {'mode':<24} {'serving':<8} mismatches/24h")
        for route in state["routes"]:
            self.stdout.write(
                f"{route['route']:<18} {route['kind']:<6} {route['described']:<24} "
                f"{route['effective_mode']:<8} {route['mismatches_24h']}"
            )
        if state["changes"]:
            self.stdout.write("latest changes:")
            for change in state["changes"]:
                self.stdout.write(
                    f"  {change['at']} {change['route']}: {change['change']} "
                    f"by {change['actor']} ({change['via']}): {change['reason']}"
                )

    def _mismatches(self, route: str, limit: int) -> None:
        registry.get(route)
        if limit < 1:
            raise CommandError("--limit must be at least 1", returncode=2)
        found = selectors.recent_mismatches(route, limit=limit)
        if not found:
            self.stdout.write(f"{route}: no mismatches stored")
            return
        for mismatch in found:
            self.stdout.write(
                f"{mismatch.created_at.isoformat()} {mismatch.outcome} key={mismatch.routing_key}"
            )
            if mismatch.error:
                self.stdout.write(f"  error: {mismatch.error}")
            for part, (control, candidate) in sorted(mismatch.diff.items()):
                self.stdout.write(f"  {part}: legacy={control!r} new={candidate!r}")
