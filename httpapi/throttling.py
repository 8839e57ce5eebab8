"""The API's throttles, reading their rate when a request comes in.

DRF copies ``DEFAULT_THROTTLE_RATES`` into a class attribute at import, so a changed setting
(``override_settings``, a test's tiny rate) would never reach it; these read ``api_settings``,
which DRF reloads whenever the settings change. The rates come from API_THROTTLE_USER, _ANON
and _TOKEN_FAILURES. ``TokenFailureThrottle`` counts failed tokens only: it is kept by
``httpapi.authentication``, not listed among the view throttles.

The user and anonymous throttles keep DRF's sliding window, but on the shared Redis cache
(CACHE_URL) their cache step is one round trip, ``record_in_window`` (config/cache.py): DRF's
own reads the history and writes it back, two round trips between which concurrent requests
of one client each saw room and passed over the rate. Without Redis (each process's memory)
they are DRF's as they are (docs/adr/0025).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings


def _current_rate(scope: str | None) -> str | None:
    try:
        rate = api_settings.DEFAULT_THROTTLE_RATES[scope or ""]
    except KeyError:
        raise ImproperlyConfigured(f"no DEFAULT_THROTTLE_RATES entry for {scope!r}") from None
    return None if rate is None else str(rate)


class WindowInRedis(throttling.SimpleRateThrottle):
    """DRF's sliding window with its cache step in one atomic round trip when the cache can."""

    num_requests: int | None
    duration: int | None
    _oldest: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        record = getattr(self.cache, "record_in_window", None)
        if record is None or self.rate is None:
            return super().allow_request(request, view)
        assert self.num_requests is not None and self.duration is not None
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        answer = record(self.key, now=self.now, duration=self.duration, limit=self.num_requests)
        if answer is None or answer.recorded:
            return True  # recorded, or the cache is unreachable (fails open, ADR 0012)
        self._oldest = answer.oldest
        return False

    def wait(self) -> float | None:
        if self._oldest is None or self.duration is None:
            return super().wait()
        # As DRF says it when refused: until the oldest request in the window leaves it.
        return max(self.duration - (self.now - self._oldest), 0.0)


class AnonRateThrottle(WindowInRedis, throttling.AnonRateThrottle):
    def get_rate(self) -> str | None:
        return _current_rate(self.scope)


class UserRateThrottle(WindowInRedis, throttling.UserRateThrottle):
    def get_rate(self) -> str | None:
        return _current_rate(self.scope)


class TokenFailureThrottle(throttling.SimpleRateThrottle):
    """The failed tokens of one address, in the cache; ``timer`` is the clock (tests set it)."""

    scope = "token_failures"
    # Set by SimpleRateThrottle.__init__ from the rate (its stubs do not declare them).
    num_requests: int | None
    duration: int | None

    def get_rate(self) -> str | None:
        return _current_rate(self.scope)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def seconds_blocked(self, request: Request) -> float | None:
        """How long this address must wait before its next token is looked at, or None."""
        if self.num_requests is None or self.duration is None:
            return None
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) < self.num_requests:
            return None
        return self.wait() or float(self.duration)

    def record_failure(self) -> None:
        if self.num_requests is not None:
            self.throttle_success()  # DRF's name for "add now to the history"
