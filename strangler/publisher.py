"""Where shadow results go (Scientist's ``publish``): a counter, a log line, stored mismatches.

Every result is counted by route and outcome (and a comparison that ran, by route and
minute for the ops panel: ``strangler.traffic``), and logged as ``strangler_shadow`` under the
request's trace id: a warning for a mismatch or an error, information for a timeout or a
skipped candidate, and a match at debug level only (the line cost a read's candidate 7 % of its
time, docs/adr/0016: the count says as much). A request outside the route's sample is only
counted (``unsampled``). A mismatch, or a candidate's error, is stored with both clean answers,
the diff and the routing key (``ShadowMismatch``, kept STRANGLER_MISMATCH_RETENTION_DAYS); a
match is not stored.

A read of the moved data in the ``verify`` phase is published the same way
(``publish_verification``): counted by reader and result, logged as ``strangler_verify``, and
stored under the route ``ModeChange.DATA_PHASE`` when its two answers disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from strangler import metrics, wiring
from strangler.experiment import ERROR, MATCH, MISMATCH, UNSAMPLED, Result
from strangler.models import ModeChange, ShadowMismatch
from strangler.traffic import COMPARED, MISMATCHED

logger = structlog.get_logger(__name__)


def publish(result: Result) -> None:
    metrics.SHADOW_RESULTS.labels(result.route, result.outcome).inc()
    if result.outcome in (MATCH, MISMATCH, ERROR):
        traffic = wiring.runtime().traffic
        traffic.count(result.route, COMPARED)
        if result.outcome != MATCH:
            traffic.count(result.route, MISMATCHED)
    if result.outcome == UNSAMPLED:
        return
    fields: dict[str, object] = {
        "route": result.route,
        "result": result.outcome,
        "candidate_ms": (
            round(result.candidate_seconds * 1000, 2)
            if result.candidate_seconds is not None
            else None
        ),
    }
    if result.comparison is not None and result.comparison.declared:
        fields["declared"] = list(result.comparison.declared)
    if result.outcome in (MISMATCH, ERROR):
        logger.warning(
            "strangler_shadow",
            differs=sorted(result.comparison.diff) if result.comparison else None,
            error=result.error or None,
            **fields,
        )
        store(result)
    elif result.outcome == MATCH:
        logger.debug("strangler_shadow", **fields)
    else:
        logger.info("strangler_shadow", **fields)


def store(result: Result) -> ShadowMismatch:
    context = dict(result.context)
    key = context.pop("routing_key", None)
    return ShadowMismatch.objects.create(
        created_at=timezone.now(),
        route=result.route,
        outcome=ShadowMismatch.ERROR if result.outcome == ERROR else ShadowMismatch.MISMATCH,
        routing_key=str(key or "")[:255],
        control=result.control.as_json(),
        candidate=result.candidate.as_json() if result.candidate else None,
        diff=result.comparison.diff if result.comparison else {},
        error=result.error,
        context=context,
    )


def publish_verification(
    *,
    key: str,
    reader: str,
    control: Mapping[str, Any],
    candidate: Mapping[str, Any] | None,
    error: str = "",
) -> str:
    """One verify read: the legacy copy's answer (the control, which the reader returns)
    against the new owner's (the candidate; None with ``error`` when it could not answer).
    Values are JSON's. The result (match, mismatch, error); never raises into the read."""
    diff: dict[str, list[Any]] = {}
    if candidate is not None:
        for name in sorted(set(control) | set(candidate)):
            if control.get(name) != candidate.get(name):
                diff[name] = [control.get(name), candidate.get(name)]
    outcome = ERROR if error or candidate is None else MISMATCH if diff else MATCH
    try:
        metrics.VERIFY_RESULTS.labels(reader, outcome).inc()
        if outcome == MATCH:
            return outcome
        logger.warning(
            "strangler_verify", reader=reader, key=key, result=outcome, differs=sorted(diff)
        )
        # A savepoint: a failed insert must not abort the reader's own transaction.
        with transaction.atomic():
            ShadowMismatch.objects.create(
                created_at=timezone.now(),
                route=ModeChange.DATA_PHASE,
                outcome=ShadowMismatch.ERROR if outcome == ERROR else ShadowMismatch.MISMATCH,
                routing_key=key[:255],
                control=dict(control),
                candidate=dict(candidate) if candidate is not None else None,
                diff=diff,
                error=error,
                context={"reader": reader},
            )
    except Exception:
        logger.warning("strangler_verify_not_published", reader=reader, exc_info=True)
    return outcome
