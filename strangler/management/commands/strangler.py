"""``manage.py strangler``: see and change the traffic shift without a deploy.

    strangler status
    strangler set ROUTE MODE [--percent N] [--sample N] --reason "..."
    strangler kill --reason "..."
    strangler unkill --reason "..."
    strangler mismatches ROUTE [--limit N]
    strangler phase status [--json]
    strangler phase advance --reason "..." [--force]
    strangler phase back --reason "..."
    strangler phase set PHASE --reason "..." [--force]
    strangler phase parity
    strangler phase refill

Changes are audited (who: ``--actor``, else the operating system's user) and reach every process
within a second. Bad input (an unknown route or mode, a percent or sample outside 0 to 100, a
sample of 0 or outside shadow, a mode the route does not support, no reason) is refused with the
reason and exit status 2 (usage) or 1 (refused); nothing changes. So is a step of the data
phase whose preconditions do not hold (each is listed with what was found); ``--force`` takes it
anyway, says what it risks and records it in the audit trail.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from observability.operators import shell_actor
from strangler import registry, selectors, services
from strangler.models import ModeChange
from strangler.modes import Mode
from strangler.phases import PHASES

FORCE_HELP = (
    "take the step although its preconditions do not hold: audited, with what each one risks"
)


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
        mismatches.add_argument(
            "route", help=f"a route, or {ModeChange.DATA_PHASE!r}: verify reads"
        )
        mismatches.add_argument("--limit", type=int, default=10)

        phase = commands.add_parser("phase", help="the data ownership phase (legacy .. contract)")
        steps = phase.add_subparsers(dest="step", required=True, metavar="STEP")
        phase_status = steps.add_parser("status", help="the phase, its parity, what the next needs")
        phase_status.add_argument("--json", action="store_true", help="the ops panel's JSON")
        for name, text in (("advance", "one phase forward"), ("back", "one phase back")):
            step = steps.add_parser(name, help=text)
            step.add_argument("--reason", required=True)
            step.add_argument("--actor", default=None)
            if name == "advance":
                step.add_argument("--force", action="store_true", help=FORCE_HELP)
        to = steps.add_parser("set", help="a given phase (one step forward, or any back)")
        to.add_argument("phase", help=", ".join(phase.value for phase in PHASES))
        to.add_argument("--reason", required=True)
        to.add_argument("--actor", default=None)
        to.add_argument("--force", action="store_true", help=FORCE_HELP)
        steps.add_parser("parity", help="run the parity job now and record its figures")
        steps.add_parser("refill", help="refill the legacy copy from the new owner where behind")

    def handle(self, *args: Any, **options: Any) -> None:
        subcommand = options["subcommand"]
        actor = options.get("actor") or shell_actor()
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
            elif subcommand == "phase":
                self._phase(options, actor)
            else:
                self._mismatches(options["route"], options["limit"])
        except (services.ChangeRefused, registry.UnknownRoute) as refused:
            raise CommandError(str(refused), returncode=1) from None

    def _phase(self, options: dict[str, Any], actor: str) -> None:
        step = options["step"]
        if step == "status":
            self._phase_status(as_json=options["json"])
        elif step == "parity":
            run = services.run_parity()
            if run is None:
                self.stdout.write("contract: the legacy copy is not written, nothing to compare")
                return
            self.stdout.write(str(run))
            for example in run.examples:
                self.stdout.write(f"  {example}")
            if not run.is_clean:
                raise CommandError("parity does not hold", returncode=1)
        elif step == "refill":
            self.stdout.write(f"refilled {services.refill_copy()} rows from the new owner")
        elif step == "back":
            self._report(
                services.step_back_phase(reason=options["reason"], actor=actor, via="command")
            )
        else:
            common = {"reason": options["reason"], "actor": actor, "via": "command"}
            if step == "advance":
                outcome = services.advance_phase(force=options["force"], **common)
            else:
                outcome = services.change_phase(
                    to=options["phase"], force=options["force"], **common
                )
            self._report(outcome)

    def _phase_status(self, *, as_json: bool) -> None:
        status = selectors.phase_status()
        if as_json:
            self.stdout.write(json.dumps(status, indent=2))
            return
        self.stdout.write(f"data phase: {status['phase']} ({' -> '.join(status['phases'])})")
        changed = status["changed"]
        if changed:
            forced = " FORCED" if changed["forced"] else ""
            self.stdout.write(
                f"  since {changed['at']}{forced}: {changed['change']} by {changed['actor']} "
                f"({changed['via']}): {changed['reason']}"
            )
        if status["restore_needed"]:
            self.stdout.write(f"  {status['restore_needed']}")
        parity = status["parity"]
        if parity is None:
            self.stdout.write("parity: no run yet")
        else:
            self.stdout.write(
                f"parity: {parity['checked']} checked, {parity['mismatched']} mismatched, "
                f"{parity['missing']} missing, {parity['age_seconds']:.0f} s ago "
                f"(started in {parity['phase']})"
            )
        self.stdout.write(f"verify reads that disagreed in 24 h: {status['verify_mismatches_24h']}")
        if status["next"] is None:
            self.stdout.write("next: none (the last phase)")
            return
        verdict = "ready" if status["next_allowed"] else "not ready"
        self.stdout.write(f"next: {status['next']} ({verdict})")
        for check in status["next_preconditions"]:
            mark = "ok " if check["holds"] else "NO "
            self.stdout.write(f"  {mark} {check['name']}: {check['detail']}")

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
        phase = state["phase"]
        following = f", next: {phase['next']}" if phase["next"] else ""
        self.stdout.write(
            f"data phase: {phase['phase']}{following} (strangler phase status for its parity)"
        )
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
        if route != ModeChange.DATA_PHASE:
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
