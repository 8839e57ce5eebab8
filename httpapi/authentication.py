"""Token authentication that slows down guessing: failures are throttled per client address.

DRF authenticates before it throttles, so an invalid token was a 401 every time, as fast as a
client could ask (its throttles never saw it). ``GuardedTokenAuthentication`` counts each
failed token from an address in the default cache (``TokenFailureThrottle``, the rate
``token_failures``: API_THROTTLE_TOKEN_FAILURES); past the rate every token from that address,
valid or not, is answered 429 with Retry-After until the window has moved on, so a guess cannot
be confirmed either. The address is DRF's (``NUM_PROXIES``: TRUSTED_PROXY_COUNT). Two failures
racing may count as one, as with DRF's own throttles: the limit is approximate, not exceeded
by more than the concurrency of one client.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from rest_framework import authentication, exceptions, throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from observability.metrics import API_TOKEN_FAILURES


class TokenFailureThrottle(throttling.SimpleRateThrottle):
    """The failed tokens of one address, in the cache; ``timer`` is the clock (tests set it)."""

    scope = "token_failures"
    # Set by SimpleRateThrottle.__init__ from the rate (its stubs do not declare them).
    num_requests: int | None
    duration: int | None

    def get_rate(self) -> str | None:
        # Read when a request comes in, not at import (DRF copies the rates into the class).
        try:
            rate = api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(
                f"no DEFAULT_THROTTLE_RATES entry for {self.scope!r}"
            ) from None
        return None if rate is None else str(rate)

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


class GuardedTokenAuthentication(authentication.TokenAuthentication):
    throttle_class = TokenFailureThrottle

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no token: someone else's to authenticate, or anonymous
        throttle = self.throttle_class()
        wait = throttle.seconds_blocked(request)
        if wait is not None:
            API_TOKEN_FAILURES.labels("throttled").inc()
            raise exceptions.Throttled(wait, "Too many failed authentications from this address.")
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttle.record_failure()
            API_TOKEN_FAILURES.labels("refused").inc()
            raise
