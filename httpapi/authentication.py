"""Token authentication that slows down guessing and remembers recent tokens for a few seconds.

DRF authenticates before it throttles, so an invalid token was a 401 every time, as fast as a
client could ask (its throttles never saw it). ``GuardedTokenAuthentication`` counts each
failed token from an address in the default cache (``httpapi.throttling.TokenFailureThrottle``,
the rate ``token_failures``: API_THROTTLE_TOKEN_FAILURES); past it every token from that address,
valid or not, is answered 429 with Retry-After until the window has moved on, so a guess cannot
be confirmed either. The address is DRF's (``NUM_PROXIES``: TRUSTED_PROXY_COUNT). Two failures
racing may count as one, as with DRF's own throttles: the limit is approximate, not exceeded
by more than the concurrency of one client.

A token that authenticated is remembered by the process for API_TOKEN_CACHE_SECONDS
(``RecentTokens``, keyed by the SHA-256 of the token, never the token itself), so a client's
requests in a burst cost one query, not one each (docs/adr/0025). A deleted token, or a user
made inactive, is refused once that time has passed: the time is the bound, not a signal.
Failures are never remembered: each is looked up and counted.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from httpapi.throttling import TokenFailureThrottle
from observability.metrics import API_TOKEN_FAILURES

# More distinct tokens than this within the time and the memory starts again: a bound on a
# process's memory, not a limit on clients.
MAX_REMEMBERED_TOKENS = 10_000


class RecentTokens:
    """Tokens that authenticated in this process lately: their user, until a deadline.

    ``clock`` is monotonic seconds (tests replace it). Entries are whole tuples replaced at once,
    so the request threads of a process share it without a lock on reads.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, tuple[float, AbstractBaseUser, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> tuple[AbstractBaseUser, Any] | None:
        entry = self._entries.get(self.digest(key))
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1], entry[2]

    def remember(self, key: str, user: AbstractBaseUser, token: Any, seconds: float) -> None:
        with self._lock:
            if len(self._entries) >= MAX_REMEMBERED_TOKENS:
                self._entries = {}
            self._entries[self.digest(key)] = (self.clock() + seconds, user, token)

    def forget_all(self) -> None:
        with self._lock:
            self._entries = {}


recent_tokens = RecentTokens()


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

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Any]:
        seconds = settings.API_TOKEN_CACHE_SECONDS
        if seconds > 0:
            known = recent_tokens.get(key)
            if known is not None:
                return known
        user, token = super().authenticate_credentials(key)
        if seconds > 0:
            recent_tokens.remember(key, user, token, seconds)
        return user, token
