"""Changing the strangler's state: every change validated, audited and announced.

Each change runs in one transaction: the route's row (or the switch's, or the data phase's on
the same row), one ``ModeChange`` row and the state's version, bumped with ``F() + 1`` under
the switch row's lock so two changes are ordered. After the commit the version is announced in
the cache, and this process drops its copy at once; every other process sees it at its next
check (``strangler.state``).

Refused changes raise ``ChangeRefused`` with the reason and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import structlog
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from strangler import preconditions, registry, selectors, wiring
from strangler.models import (
    ModeChange,
    ParityRun,
    RouteMode,
    ShadowMismatch,
    StranglerState,
    TrafficMinute,
)
from strangler.modes import FULL, InvalidPercent, Mode, parse_percent
from strangler.moved_data import moved_data
from strangler.phases import (
    Phase,
    UnknownPhase,
    next_phase,
    parse_phase,
    previous_phase,
    steps_between,
)
from strangler.selectors import STATE_PK

logger = structlog.get_logger(__name__)

KILLED, LIVE = "killed", "live"
VIA = ("admin", "command", "api", "panel")
PARITY_EXAMPLES = 20


class ChangeRefused(ValueError):
    """The change was not made; the message says why."""


@dataclass(frozen=True)
class Spec:
    """What a change sets: a mode (or the switch's ``live``/``killed``), its canary share and
    its shadow sample, in basis points."""

    mode: str
    basis_points: int = 0
    sample_points: int = FULL


@dataclass(frozen=True)
class Outcome:
    """What a change did: ``change`` is None when there was nothing to change."""

    change: ModeChange | None
    message: str
    announced: bool = True


def _check_common(reason: str, actor: str, via: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ChangeRefused("a reason is required: say why (it goes into the audit trail)")
    if not actor:
        raise ChangeRefused("the change needs an actor (who makes it)")
    if via not in VIA:
        raise ChangeRefused(f"via must be one of {', '.join(VIA)}")
    return reason


def set_mode(
    *,
    route: str,
    mode: str,
    percent: str | Decimal | int | None = None,
    sample: str | Decimal | int | None = None,
    reason: str,
    actor: str,
    via: str,
) -> Outcome:
    """Put ``route`` in ``mode`` (``percent`` for canary only, ``sample`` for shadow only: the
    share of routing keys whose requests run the candidate, 100 when not given)."""
    reason = _check_common(reason, actor, via)
    try:
        spec = registry.get(route)
    except registry.UnknownRoute as error:
        raise ChangeRefused(str(error)) from None
    try:
        target = Mode(mode)
    except ValueError:
        raise ChangeRefused(
            f"unknown mode {mode!r} (modes: {', '.join(m.value for m in Mode)})"
        ) from None
    if target not in spec.modes:
        supported = ", ".join(m.value for m in Mode if m in spec.modes)
        raise ChangeRefused(f"route {route} does not support {target} (it supports: {supported})")
    if target is Mode.CANARY:
        if percent is None:
            raise ChangeRefused("canary needs a percent (0 to 100, in 0.01 steps)")
        try:
            points = parse_percent(percent)
        except InvalidPercent as error:
            raise ChangeRefused(str(error)) from None
    elif percent is not None:
        raise ChangeRefused(f"a percent applies to canary only, not to {target}")
    else:
        points = 0
    sample_points = _sample_points(target, sample)

    with transaction.atomic():
        state = _locked_state()
        row, _ = RouteMode.objects.select_for_update().get_or_create(route=route)
        before = Spec(Mode(row.mode), row.basis_points, row.sample_points)
        after = Spec(target, points, sample_points)
        if before == after:
            return Outcome(None, f"{route} is already {row.describe()}: nothing changed")
        row.mode, row.basis_points, row.sample_points = target.value, points, sample_points
        row.updated_by = actor
        row.save(
            update_fields=["mode", "basis_points", "sample_points", "updated_by", "updated_at"]
        )
        change = _record(state, route, before, after, reason, actor, via)
    announced = _announce(change.version)
    message = f"{route}: {change.change()}"
    if state.killed:
        message += " (the kill switch is engaged: every route stays on legacy until it is lifted)"
    logger.info("strangler_mode_changed", route=route, change=change.change(), actor=actor, via=via)
    return Outcome(change, message, announced)


def kill(*, reason: str, actor: str, via: str) -> Outcome:
    """Send every route to legacy at once; their modes are kept for ``unkill``."""
    return _switch(True, reason=reason, actor=actor, via=via)


def unkill(*, reason: str, actor: str, via: str) -> Outcome:
    """Lift the kill switch: every route is back in the mode it had."""
    return _switch(False, reason=reason, actor=actor, via=via)


def _switch(engage: bool, *, reason: str, actor: str, via: str) -> Outcome:
    reason = _check_common(reason, actor, via)
    with transaction.atomic():
        state = _locked_state()
        if state.killed == engage:
            since = f" since {state.changed_at:%Y-%m-%d %H:%M:%S} by {state.changed_by}"
            word = "engaged" if engage else "lifted"
            return Outcome(None, f"the kill switch is already {word}{since}: nothing changed")
        state.killed = engage
        state.changed_at, state.changed_by, state.reason = timezone.now(), actor, reason
        state.save(update_fields=["killed", "changed_at", "changed_by", "reason"])
        before, after = (LIVE, KILLED) if engage else (KILLED, LIVE)
        change = _record(
            state, ModeChange.KILL_SWITCH, Spec(before), Spec(after), reason, actor, via
        )
    announced = _announce(change.version)
    message = (
        "kill switch engaged: every route is served by legacy"
        if engage
        else "kill switch lifted: every route is back in its mode"
    )
    logger.warning("strangler_kill_switch", engaged=engage, actor=actor, via=via)
    return Outcome(change, message, announced)


def _locked_state() -> StranglerState:
    StranglerState.objects.get_or_create(pk=STATE_PK)
    return StranglerState.objects.select_for_update().get(pk=STATE_PK)


def _sample_points(target: Mode, sample: str | Decimal | int | None) -> int:
    if sample is None:
        return FULL
    if target is not Mode.SHADOW:
        raise ChangeRefused(f"a sample applies to shadow only, not to {target}")
    try:
        points = parse_percent(sample)
    except InvalidPercent as error:
        raise ChangeRefused(f"sample: {error}") from None
    if points == 0:
        raise ChangeRefused("a sample of 0 compares nothing: put the route in legacy instead")
    return points


def _record(
    state: StranglerState,
    route: str,
    before: Spec,
    after: Spec,
    reason: str,
    actor: str,
    via: str,
    *,
    overridden: list[str] | None = None,
) -> ModeChange:
    StranglerState.objects.filter(pk=state.pk).update(version=F("version") + 1)
    state.refresh_from_db(fields=["version"])
    return ModeChange.objects.create(
        at=timezone.now(),
        actor=actor,
        via=via,
        route=route,
        from_mode=str(before.mode),
        from_basis_points=before.basis_points,
        from_sample_points=before.sample_points,
        to_mode=str(after.mode),
        to_basis_points=after.basis_points,
        to_sample_points=after.sample_points,
        reason=reason,
        version=state.version,
        forced=bool(overridden),
        overridden=overridden or [],
    )


def _announce(version: int) -> bool:
    """After the commit: drop this process's copy and tell the others (False: could not)."""
    wiring.store().invalidate()
    try:
        announced = wiring.board().announce(version)
    except Exception:
        logger.warning("strangler_version_not_announced", version=version, exc_info=True)
        announced = False
    if not announced:
        logger.warning("strangler_version_not_announced", version=version)
    return announced


# ---------------------------------------------------------------------- the data phase


def change_phase(
    *,
    to: str,
    reason: str,
    actor: str,
    via: str,
    force: bool = False,
    expected: str | None = None,
) -> Outcome:
    """Put the data ownership phase in ``to``: one step forward (its preconditions must hold,
    unless ``force``), or any number back (always allowed, except out of ``contract`` while the
    legacy copy's columns are dropped).

    ``expected``: the phase the caller saw (a form's hidden field); when the phase has moved
    since, nothing changes, so a step pressed twice is taken once.
    """
    try:
        target = parse_phase(to)
    except UnknownPhase as error:
        raise ChangeRefused(str(error)) from None
    return _change_phase(
        lambda current: target, reason=reason, actor=actor, via=via, force=force, expected=expected
    )


def advance_phase(
    *, reason: str, actor: str, via: str, force: bool = False, expected: str | None = None
) -> Outcome:
    """One phase forward, if its preconditions hold (or ``force``)."""

    def following(current: Phase) -> Phase:
        target = next_phase(current)
        if target is None:
            raise ChangeRefused(f"the data phase is {current}, the last: there is no next phase")
        return target

    return _change_phase(
        following, reason=reason, actor=actor, via=via, force=force, expected=expected
    )


def step_back_phase(*, reason: str, actor: str, via: str, expected: str | None = None) -> Outcome:
    """One phase back: the rollback, with no precondition."""

    def preceding(current: Phase) -> Phase:
        target = previous_phase(current)
        if target is None:
            raise ChangeRefused(f"the data phase is {current}, the first: there is no step back")
        return target

    return _change_phase(preceding, reason=reason, actor=actor, via=via, expected=expected)


def _change_phase(
    pick: Callable[[Phase], Phase],
    *,
    reason: str,
    actor: str,
    via: str,
    force: bool = False,
    expected: str | None = None,
) -> Outcome:
    reason = _check_common(reason, actor, via)
    with transaction.atomic():
        state = _locked_state()
        current = Phase(state.phase)
        if expected is not None and expected != current.value:
            raise ChangeRefused(
                f"the data phase is {current} now, not {expected}: nothing changed (look again)"
            )
        target = pick(current)
        if target is current:
            return Outcome(None, f"the data phase is already {current}: nothing changed")
        overridden = _check_step(current, target, force=force)
        state.phase = target.value
        state.save(update_fields=["phase"])
        change = _record(
            state,
            ModeChange.DATA_PHASE,
            Spec(current.value),
            Spec(target.value),
            reason,
            actor,
            via,
            overridden=overridden,
        )
    announced = _announce(change.version)
    message = f"data phase: {current} -> {target}"
    if overridden:
        message += "\nFORCED past what did not hold, at these risks:\n" + "\n".join(
            f"  - {item}" for item in overridden
        )
    logger.warning(
        "strangler_data_phase_changed",
        change=f"{current} -> {target}",
        forced=bool(overridden),
        actor=actor,
        via=via,
    )
    if current is Phase.CONTRACT:
        message += "; " + _refill_after_contract()
    return Outcome(change, message, announced)


def _check_step(current: Phase, target: Phase, *, force: bool) -> list[str]:
    """What the step from ``current`` to ``target`` overrides (forced); raises ChangeRefused
    when it may not be taken."""
    steps = steps_between(current, target)
    if steps > 1:
        raise ChangeRefused(
            f"one phase at a time: {current} -> {next_phase(current)} first (each step's "
            "preconditions are checked in the phase it leaves)"
        )
    if steps < 0:
        needed = moved_data().restore_needed() if current is Phase.CONTRACT else None
        if needed:
            raise ChangeRefused(f"cannot leave contract: {needed} (--force cannot skip this)")
        return []
    checks = preconditions.for_step(target, snapshot=selectors.load_snapshot(), now=timezone.now())
    failed = [check for check in checks if not check.holds]
    if failed and not force:
        raise ChangeRefused(
            f"{current} -> {target} refused, its preconditions do not hold:\n"
            + "\n".join(f"  - {check.name}: {check.detail}" for check in failed)
            + "\n(--force goes ahead anyway, audited, at these risks: "
            + "; ".join(check.risk for check in failed)
            + ")"
        )
    return [f"{check.name}: {check.detail} (risk: {check.risk})" for check in failed]


def _refill_after_contract() -> str:
    """The legacy copy was not written in contract: bring it up to date, now that it is again."""
    try:
        refilled = moved_data().refill_copy()
    except Exception:
        logger.exception("strangler_refill_failed")
        return (
            "the refill of the legacy copy FAILED (logged): run `manage.py strangler phase "
            "refill` before stepping back further"
        )
    return f"the legacy copy was refilled from the new owner ({refilled} rows behind)"


def refill_copy() -> int:
    """Bring the legacy copy up to date from the new owner (idempotent: only rows behind); not
    in ``contract``, where nothing writes it."""
    needed = moved_data().restore_needed()
    if needed:
        raise ChangeRefused(f"nothing to refill: {needed}")
    if selectors.load_snapshot().phase is Phase.CONTRACT:
        raise ChangeRefused("the legacy copy is not written in contract: step back first")
    return moved_data().refill_copy()


def run_parity() -> ParityRun | None:
    """One pass of the parity job, recorded; None in ``contract`` or while the copy's columns
    are dropped (nothing is written to compare)."""
    phase = selectors.load_snapshot().phase
    if phase is Phase.CONTRACT or moved_data().restore_needed():
        return None
    started = timezone.now()
    figures = moved_data().check_parity()
    run = ParityRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        phase=phase.value,
        checked=figures.checked,
        mismatched=figures.mismatched,
        missing=figures.missing,
        examples=list(figures.examples)[:PARITY_EXAMPLES],
    )
    log = logger.info if run.is_clean else logger.warning
    log(
        "strangler_parity",
        phase=phase.value,
        checked=run.checked,
        mismatched=run.mismatched,
        missing=run.missing,
        seconds=round((run.finished_at - started).total_seconds(), 3),
    )
    return run


def ensure_routes() -> int:
    """A row for every registered route (legacy, with its own salt); the number created."""
    known = set(RouteMode.objects.values_list("route", flat=True))
    missing = [RouteMode(route=name) for name in registry.routes() if name not in known]
    RouteMode.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def purge_traffic(*, older_than_hours: int) -> int:
    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    deleted, _ = TrafficMinute.objects.filter(minute__lt=cutoff).delete()
    return deleted


def purge_mismatches(*, older_than_days: int) -> int:
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = ShadowMismatch.objects.filter(created_at__lt=cutoff).delete()
    return deleted
