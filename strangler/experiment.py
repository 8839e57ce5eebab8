"""Shadow comparisons, Scientist-style: the control answers, the candidate is only compared.

The vocabulary is Scientist's (github/scientist): the control (``use``: the legacy handler) and
the candidate (``try``: the new one), and hooks named ``run_if`` (whether to try at all: asked
before the control runs; the facade's says whether the request is in the route's sample, and a
request outside it costs the control nothing but a count, ``unsampled``), ``clean`` (what of an
answer is compared and recorded: the route's comparator), ``compare`` and ``ignore`` (the
comparator's diff and its declared differences), ``context`` (what is recorded beside the
result) and ``publish`` (where results go). An error in any hook, like any error of the
candidate, becomes the result ``error`` and is logged (in ``run_if``: the candidate does not
run); it never reaches the request, and the control's answer is returned unchanged in every case.

What Scientist leaves to its users is decided here. A candidate has a time budget: one that
takes longer is abandoned (result ``timeout``), its late answer discarded. A read's candidate
runs on the bounded shadow pool once the request's answer has left (``strangler.pool``), and
nobody waits for it: it adds nothing to the answer (run beside the control, it doubled a read's
latency: the GIL and the wait; docs/adr/0016 has the numbers); with no room in the pool it is
not run (``skipped``). A write's candidate runs first, in the request's thread, isolated
(``strangler.isolation``: a rolled-back transaction on every database, side effects refused),
so that it sees the state the control will see; its duration is the latency shadow mode adds
to a write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.http import HttpResponseBase

from strangler import isolation, metrics
from strangler.comparison import Comparator, Comparison, Observation, observe
from strangler.pool import Executor
from strangler.state import Clock

logger = structlog.get_logger(__name__)

MATCH, MISMATCH, ERROR, TIMEOUT, SKIPPED = "match", "mismatch", "error", "timeout", "skipped"
UNSAMPLED = "unsampled"
"""``run_if`` said no (the request is outside the route's sample): the candidate did not run."""
PENDING = "pending"
"""A read's comparison still running when its request's answer left (published later)."""
OUTCOMES = (MATCH, MISMATCH, ERROR, TIMEOUT, SKIPPED, UNSAMPLED)

View = Callable[[], HttpResponseBase]


@dataclass(frozen=True)
class Result:
    route: str
    outcome: str
    control: Observation
    candidate: Observation | None = None
    comparison: Comparison | None = None
    error: str = ""
    candidate_seconds: float | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    pending: Future[Result] | None = None
    """For a ``pending`` result: the comparison still running, which publishes its own."""


@dataclass(frozen=True)
class Tried:
    """What the candidate gave: its clean observation and how long it took."""

    observation: Observation
    seconds: float


@dataclass(frozen=True)
class Experiment:
    name: str
    comparator: Comparator
    budget_seconds: float
    clock: Clock
    executor: Executor
    publish: Callable[[Result], None]
    context: Callable[[], Mapping[str, Any]] = dict
    run_if: Callable[[], bool] = lambda: True

    def run_after(self, control: View, candidate: View) -> tuple[HttpResponseBase, Result]:
        """A read: the control answers; the candidate runs on the pool once the answer left.

        The candidate is not waited for, so it adds nothing to the control's answer: its result
        is published from the pool (``strangler_shadow``, under the request's trace id) and the
        request's own result is ``pending``, unless the candidate was done before the control's
        answer left (an inline executor, in tests). Over its budget, its answer is discarded
        (``timeout``); with no room in the pool it is not run (``skipped``).
        """
        if not self._hook("run_if", self.run_if, default=False):
            return self._unsampled(control())
        response = control()
        try:
            clean_control = self.comparator.clean(observe(response, self.comparator.headers))
        except Exception as error:
            logger.warning("strangler_hook_failed", hook="clean", route=self.name, exc_info=True)
            return response, self._finish(response, outcome=ERROR, error=f"clean: {error!r}")
        context = self._hook("context", self.context, default={})

        def run() -> Result:
            try:
                tried = self._try(candidate)
            except Exception as error:
                return self._result(ERROR, clean_control, error=_describe(error), context=context)
            return self._judged(clean_control, tried, context)

        future = self.executor.try_submit(run)
        if future is None:
            return response, self._finish(response, outcome=SKIPPED)
        if future.done():
            return response, future.result()
        return response, Result(
            route=self.name, outcome=PENDING, control=clean_control, pending=future
        )

    def run_first(self, control: View, candidate: View) -> tuple[HttpResponseBase, Result]:
        """A write: the candidate first, isolated, then the control."""
        if not self._hook("run_if", self.run_if, default=False):
            return self._unsampled(control())
        tried: Tried | None = None
        error: BaseException | None = None
        try:
            with isolation.isolated(self.budget_seconds):
                tried = self._try(candidate)
        except Exception as raised:
            error = raised
        response = control()
        if tried is None:
            return response, self._finish(response, outcome=ERROR, error=_describe(error))
        return response, self._judge(response, tried)

    # ------------------------------------------------------------------ internals

    def _unsampled(self, response: HttpResponseBase) -> tuple[HttpResponseBase, Result]:
        """The control alone: nothing cleaned or compared, only counted (``publish``)."""
        result = Result(
            route=self.name, outcome=UNSAMPLED, control=Observation(response.status_code)
        )
        self._hook("publish", lambda: self.publish(result), default=None)
        return response, result

    def _try(self, candidate: View) -> Tried:
        started = self.clock()
        wall = time.perf_counter()
        try:
            response = candidate()
            try:
                observation = self.comparator.clean(observe(response, self.comparator.headers))
            finally:
                _release(response)
        finally:
            metrics.CANDIDATE_SECONDS.labels(self.name).observe(time.perf_counter() - wall)
        return Tried(observation, self.clock() - started)

    def _judge(self, response: HttpResponseBase, tried: Tried) -> Result:
        try:
            control = self.comparator.clean(observe(response, self.comparator.headers))
        except Exception as error:
            logger.warning("strangler_hook_failed", hook="clean", route=self.name, exc_info=True)
            return self._finish(response, outcome=ERROR, error=f"clean: {_describe(error)}")
        return self._judged(control, tried, None)

    def _judged(
        self, control: Observation, tried: Tried, context: Mapping[str, Any] | None
    ) -> Result:
        if tried.seconds > self.budget_seconds:
            return self._result(TIMEOUT, control, seconds=tried.seconds, context=context)
        try:
            comparison = self.comparator.compare(control, tried.observation)
        except Exception as error:
            logger.warning("strangler_hook_failed", hook="compare", route=self.name, exc_info=True)
            return self._result(
                ERROR, control, error=f"compare: {_describe(error)}", context=context
            )
        return self._result(
            MATCH if comparison.matched else MISMATCH,
            control,
            candidate=tried.observation,
            comparison=comparison,
            seconds=tried.seconds,
            context=context,
        )

    def _finish(
        self,
        response: HttpResponseBase,
        *,
        outcome: str,
        error: str = "",
        seconds: float | None = None,
    ) -> Result:
        try:
            control = self.comparator.clean(observe(response, self.comparator.headers))
        except Exception:
            logger.warning("strangler_hook_failed", hook="clean", route=self.name, exc_info=True)
            control = Observation(status=response.status_code)
        return self._result(outcome, control, error=error, seconds=seconds)

    def _result(
        self,
        outcome: str,
        control: Observation,
        *,
        candidate: Observation | None = None,
        comparison: Comparison | None = None,
        error: str = "",
        seconds: float | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Result:
        if context is None:
            context = self._hook("context", self.context, default={})
        result = Result(
            route=self.name,
            outcome=outcome,
            control=control,
            candidate=candidate,
            comparison=comparison,
            error=error,
            candidate_seconds=seconds,
            context=dict(context),
        )
        self._hook("publish", lambda: self.publish(result), default=None)
        return result

    def _hook(self, name: str, hook: Callable[[], Any], *, default: Any) -> Any:
        try:
            return hook()
        except Exception:
            logger.warning("strangler_hook_failed", hook=name, route=self.name, exc_info=True)
            return default


def _release(response: HttpResponseBase) -> None:
    """Close what the candidate's answer holds (a file), without ``response.close()``: that
    would send ``request_finished`` in the middle of the request, and Django's handler of it
    closes the request's database connections."""
    closers = getattr(response, "_resource_closers", [])
    for closer in closers:
        closer()
    closers.clear()


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "the candidate did not answer"
    return f"{type(error).__name__}: {error}"[:2000]
