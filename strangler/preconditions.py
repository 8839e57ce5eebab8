"""What must hold before the data ownership phase moves forward, each check said plainly.

A step forward runs the checks of its target phase; one that does not hold refuses the step
with what was found, unless it is forced (``--force``: the change is audited with every check
it overrode and what each risked). A step back has no precondition: it is the rollback.

- ``parity-recent``: the parity job (``strangler.tasks.check_parity``) finished a run within
  STRANGLER_PARITY_MAX_AGE_SECONDS; every other figure below is that run's.
- ``backfill-complete``: the run found every row at the new owner (0 missing).
- ``parity-clean``: the run found no row whose legacy copy and new owner disagree.
- ``parity-in-verify`` / ``parity-in-logistics``: the run started in the phase being left, so
  the figures describe it (a run from before the last step does not).
- ``verify-reads-clean``: no read of the verify phase disagreed since that run started
  (``ShadowMismatch`` under ``ModeChange.DATA_PHASE``).
- ``no-route-reads-columns``: no strangled route whose legacy handler reads the legacy copy
  itself (``Route.legacy_reads_columns``) may serve a request on legacy (legacy, shadow,
  canary, or the kill switch engaged): once the copy is no longer written it would be stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from strangler import registry
from strangler.models import ModeChange, ParityRun, ShadowMismatch
from strangler.modes import Mode, Snapshot
from strangler.phases import Phase


@dataclass(frozen=True)
class Check:
    """One precondition: whether it holds, what was found, and what going ahead without it
    risks."""

    name: str
    holds: bool
    detail: str
    risk: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "holds": self.holds, "detail": self.detail, "risk": self.risk}


def latest_run() -> ParityRun | None:
    return ParityRun.objects.first()


def for_step(target: Phase, *, snapshot: Snapshot, now: datetime) -> list[Check]:
    """The checks of the step forward into ``target`` (none for ``legacy``: nothing precedes
    it)."""
    if target is Phase.LEGACY:
        return []
    run = latest_run()
    checks = [_recent(run, now), _backfilled(run)]
    if target is Phase.LOGISTICS:
        checks += [_clean(run), _ran_in(run, Phase.VERIFY), _verify_reads_clean(run)]
    elif target is Phase.CONTRACT:
        checks += [_clean(run), _ran_in(run, Phase.LOGISTICS), _no_route_reads_columns(snapshot)]
    return checks


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def _recent(run: ParityRun | None, now: datetime) -> Check:
    limit = settings.STRANGLER_PARITY_MAX_AGE_SECONDS
    risk = "the step rests on parity figures that may no longer hold"
    if run is None:
        detail = "no parity run yet: run `manage.py strangler phase parity` or wait for the job"
        return Check("parity-recent", False, detail, risk)
    age = (now - run.finished_at).total_seconds()
    holds = age <= limit
    detail = (
        f"the last parity run finished {_minutes(age)} ago (at most {_minutes(limit)})"
        if holds
        else f"the last parity run is {_minutes(age)} old (at most {_minutes(limit)}): run "
        "`manage.py strangler phase parity` or check that the job runs (celery beat)"
    )
    return Check("parity-recent", holds, detail, risk)


def _backfilled(run: ParityRun | None) -> Check:
    risk = "rows without the new owner's copy are read as having nothing yet"
    if run is None:
        return Check("backfill-complete", False, "no parity run yet", risk)
    if run.missing:
        detail = f"the last parity run found {run.missing} rows missing at the new owner: finish "
        detail += "the backfill"
        return Check("backfill-complete", False, detail, f"{run.missing} {risk}")
    return Check("backfill-complete", True, f"all {run.checked} rows are at the new owner", risk)


def _clean(run: ParityRun | None) -> Check:
    risk = "reads answer the new owner's data where it disagrees with what was read so far"
    if run is None:
        return Check("parity-clean", False, "no parity run yet", risk)
    if run.mismatched:
        found = "; ".join(run.examples[:3])
        detail = f"the last parity run found {run.mismatched} rows whose copies disagree ({found})"
        return Check("parity-clean", False, detail, f"{run.mismatched} rows: {risk}")
    return Check("parity-clean", True, f"the last parity run found 0 of {run.checked} apart", risk)


def _ran_in(run: ParityRun | None, phase: Phase) -> Check:
    name = f"parity-in-{phase.value}"
    risk = f"the figures may describe the data before the phase {phase} began"
    if run is None:
        return Check(name, False, "no parity run yet", risk)
    if run.phase != phase:
        detail = f"the last parity run started in {run.phase}, not {phase}: wait for the next one"
        return Check(name, False, detail, risk)
    return Check(name, True, f"the last parity run started in {phase}", risk)


def _verify_reads_clean(run: ParityRun | None) -> Check:
    name = "verify-reads-clean"
    risk = "reads that disagreed in verify answer the new owner's data from now on"
    if run is None:
        return Check(name, False, "no parity run yet", risk)
    found = ShadowMismatch.objects.filter(
        route=ModeChange.DATA_PHASE, created_at__gte=run.started_at
    ).count()
    if found:
        detail = f"{found} reads disagreed since the last parity run started "
        detail += "(manage.py strangler mismatches '*phase')"
        return Check(name, False, detail, risk)
    return Check(name, True, "no read disagreed since the last parity run started", risk)


def _no_route_reads_columns(snapshot: Snapshot) -> Check:
    name = "no-route-reads-columns"
    risk = "those routes' legacy handlers answer from a copy that is no longer written"
    readers = [
        route_name
        for route_name, route in registry.routes().items()
        if route.legacy_reads_columns and snapshot.effective(route_name).mode is not Mode.NEW
    ]
    if readers:
        detail = (
            f"routes whose legacy handler reads the legacy copy still serve on legacy: "
            f"{', '.join(readers)} (put them in new; the kill switch must be lifted)"
        )
        return Check(name, False, detail, f"{', '.join(readers)}: {risk}")
    return Check(name, True, "no route serving on legacy reads the legacy copy itself", risk)
