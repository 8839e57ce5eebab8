"""The facade view: one per strangled route, choosing the handler for each request.

The choice, in order: a staff member's ``X-Strangler-Side: legacy|new`` header (for testing one
request; anyone else's is ignored); the kill switch (legacy); the route's mode: ``legacy`` or
``new`` alone, ``canary`` by the request's routing key (``strangler.hashing``: sticky, a
request without a key goes to legacy), ``shadow`` (legacy answers, the new handler is compared,
``strangler.experiment``, on the requests whose routing key is in the route's sample: the
experiment's ``run_if``).

A new handler that raises is logged with the route and the side and counted; a read that says
so is answered by legacy instead, anything else by the route's error in its own format
(``strangler.errors``), never a bare 500, and never by running a write twice. Django's own
control-flow exceptions (404, 403, bad request) pass through as for any view.

Every request binds ``side`` (and in shadow mode ``shadow``, the comparison's result) to the
request's log context, so the request's final log line names them beside its route, and is
counted by route, side and status (Prometheus) and by route, side and minute (the ops
panel's ``strangler.traffic``).
"""

from __future__ import annotations

import copy
import functools
import io
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse

from strangler import hashing, metrics, publisher, wiring
from strangler.experiment import Experiment
from strangler.modes import FULL, Mode, RouteState, Side
from strangler.routes import Kind, Route

logger = structlog.get_logger(__name__)

View = Callable[..., HttpResponseBase]
FORCE_HEADER = "X-Strangler-Side"
_FORCE_META = "HTTP_X_STRANGLER_SIDE"
PASS_THROUGH = (Http404, PermissionDenied, BadRequest, SuspiciousOperation)


class StrangledView:
    def __init__(self, route: Route, *, legacy: View, new: View) -> None:
        self.route = route
        self.legacy = legacy
        self.new = new
        # CsrfViewMiddleware reads this off the resolved view: the facade is exempt exactly
        # when both handlers are (strangler.urls refuses handlers that disagree).
        self.csrf_exempt = bool(getattr(legacy, "csrf_exempt", False))

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        forced = self._forced_side(request)
        if isinstance(forced, HttpResponseBase):
            return forced
        runtime = wiring.runtime()
        state = runtime.store.snapshot().effective(self.route.name)
        if forced is not None:
            side = forced
        elif state.mode is Mode.SHADOW:
            return self._shadow(request, args, kwargs, state)
        elif state.mode is Mode.NEW:
            side = Side.NEW
        elif state.mode is Mode.CANARY:
            key = self.route.key(request, kwargs)
            new = key is not None and hashing.takes_new(state.salt, key, state.basis_points)
            side = Side.NEW if new else Side.LEGACY
        else:
            side = Side.LEGACY
        if side is Side.NEW:
            return self._serve_new(request, args, kwargs)
        return self._served(Side.LEGACY, self.legacy(request, *args, **kwargs))

    # ------------------------------------------------------------------ sides

    def _serve_new(
        self, request: HttpRequest, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> HttpResponseBase:
        structlog.contextvars.bind_contextvars(side=Side.NEW.value)
        try:
            response = self.new(request, *args, **kwargs)
        except PASS_THROUGH:
            raise
        except Exception:
            fallback = self.route.fallback_to_legacy
            logger.error(
                "strangler_new_handler_failed",
                strangled_route=self.route.name,
                side=Side.NEW.value,
                fallback=fallback,
                exc_info=True,
            )
            metrics.NEW_HANDLER_ERRORS.labels(self.route.name, str(fallback).lower()).inc()
            if fallback:
                return self._served(Side.LEGACY, self.legacy(request, *args, **kwargs))
            return self._served(Side.NEW, self.route.error(request))
        return self._served(Side.NEW, response)

    def _shadow(
        self,
        request: HttpRequest,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        state: RouteState,
    ) -> HttpResponseBase:
        runtime = wiring.runtime()
        candidate_request = clone(request)

        @functools.cache
        def routing_key() -> str | None:
            return self.route.key(request, kwargs)

        def sampled() -> bool:
            # A full sample needs no routing key (a placement's is parsed from its body).
            full = state.sample_points >= FULL
            return full or hashing.sampled(state.salt, routing_key(), state.sample_points)

        def context() -> dict[str, Any]:
            return {"routing_key": routing_key(), "method": request.method}

        experiment = Experiment(
            name=self.route.name,
            comparator=self.route.comparator,
            budget_seconds=self.route.budget_seconds or runtime.budget_seconds,
            clock=runtime.clock,
            executor=runtime.executor,
            publish=publisher.publish,
            context=context,
            run_if=sampled,
        )

        def control() -> HttpResponseBase:
            return self.legacy(request, *args, **kwargs)

        def candidate() -> HttpResponseBase:
            return self.new(candidate_request, *args, **kwargs)

        if self.route.kind is Kind.WRITE:
            response, result = experiment.run_first(control, candidate)
        else:
            response, result = experiment.run_after(control, candidate)
        structlog.contextvars.bind_contextvars(shadow=result.outcome)
        return self._served(Side.LEGACY, response)

    def _served(self, side: Side, response: HttpResponseBase) -> HttpResponseBase:
        structlog.contextvars.bind_contextvars(side=side.value)
        metrics.REQUESTS.labels(self.route.name, side.value, str(response.status_code)).inc()
        wiring.runtime().traffic.count(self.route.name, side.value)
        return response

    # ------------------------------------------------------------------ forcing a side

    def _forced_side(self, request: HttpRequest) -> Side | HttpResponseBase | None:
        raw = request.META.get(_FORCE_META)
        if raw is None:
            return None
        user = getattr(request, "user", None)
        if user is None or not (user.is_authenticated and user.is_staff):
            # Only staff may choose; for anyone else the header does not exist.
            logger.info("strangler_force_ignored", strangled_route=self.route.name)
            return None
        try:
            return Side(raw.strip().lower())
        except ValueError:
            return JsonResponse(
                {"error": f"{FORCE_HEADER} must be legacy or new, not {raw[:40]!r}"}, status=400
            )


def clone(request: HttpRequest) -> HttpRequest:
    """A copy of ``request`` for the candidate: its own body stream, POST and META.

    The body is read once here (both handlers may read it); each copy parses it on its own, so
    neither handler consumes the other's input. GET is shared: a request's query is an
    immutable QueryDict (copying it was half of what a clone cost).
    """
    body = request.body
    twin = copy.copy(request)
    twin.META = dict(request.META)
    twin._stream = io.BytesIO(body)
    for cached in ("_post", "_files"):
        twin.__dict__.pop(cached, None)
    return twin
