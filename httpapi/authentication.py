"""Token authentication that slows down guessing: failures are throttled per client address.

DRF authenticates before it throttles, so an invalid token was a 401 every time, as fast as a
client could ask (its throttles never saw it). ``GuardedTokenAuthentication`` counts each
failed token from an address in the default cache (``httpapi.throttling.TokenFailureThrottle``,
the rate ``token_failures``: API_THROTTLE_TOKEN_FAILURES); past it every token from that address,
valid or not, is answered 429 with Retry-After until the window has moved on, so a guess cannot
be confirmed either. The address is DRF's (``NUM_PROXIES``: TRUSTED_PROXY_COUNT). Two failures
racing may count as one, as with DRF's own throttles: the limit is approximate, not exceeded
by more than the concurrency of one client.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from httpapi.throttling import TokenFailureThrottle
from observability.metrics import API_TOKEN_FAILURES


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
