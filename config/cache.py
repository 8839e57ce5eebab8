"""The shared cache of CACHE_URL: Django's Redis cache, failing open.

The cache holds what may be lost: the API's throttle histories and the supplier's last good
quotes. A Redis outage must not turn every API request into a 500 (the throttle reads the cache
before the view runs), so while Redis cannot be reached a read is a miss and a write is
dropped: requests go unthrottled and quotes uncached until it is back. Each such failure is
counted (``monolithos_cache_unavailable_total``) and logged at most every
``WARNING_INTERVAL_SECONDS`` per process; ``/readyz`` shows the cache's state without failing
on it (``observability.health.cache_check``). Short socket timeouts keep a hung Redis from
holding a request long, and ``cache_state`` from holding many: after a failure, each process
tries Redis again once per ``RETRY_AFTER_SECONDS`` and every other operation fails open at once
(``observability.dependencies.Unreachable``, the bound the broker's publisher has too).

``record_in_window`` is the throttles' one round trip: a Lua script that drops a client's
requests older than the window, counts the rest and records this one only if under the limit,
atomically, so concurrent requests of one client never pass over the rate (docs/adr/0025).
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from observability.dependencies import Unreachable
from observability.metrics import CACHE_UNAVAILABLE

logger = structlog.get_logger(__name__)

SOCKET_TIMEOUT_SECONDS = 0.25
RETRY_AFTER_SECONDS = 1.0
WARNING_INTERVAL_SECONDS = 10.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)

cache_state = Unreachable("cache", retry_after=RETRY_AFTER_SECONDS)

_last_warning = 0.0
_warning_lock = threading.Lock()


def _failed_open(operation: str, error: Exception) -> None:
    global _last_warning
    CACHE_UNAVAILABLE.labels(operation=operation).inc()
    with _warning_lock:
        now = time.monotonic()
        if now - _last_warning < WARNING_INTERVAL_SECONDS:
            return
        _last_warning = now
    logger.warning("cache_unavailable", operation=operation, error=repr(error))


def _failing_open(
    operation: str, method: Callable[..., Any], fallback: Callable[..., Any]
) -> Callable[..., Any]:
    """``method`` of the Redis client, answering ``fallback(*args)`` while Redis is unreachable."""

    @functools.wraps(method)
    def call(self: RedisCacheClient, *args: Any) -> Any:
        if not cache_state.should_try():
            CACHE_UNAVAILABLE.labels(operation=operation).inc()
            return fallback(*args)
        try:
            result = method(self, *args)
        except UNREACHABLE as error:
            cache_state.failed(error)
            _failed_open(operation, error)
            return fallback(*args)
        cache_state.succeeded()
        return result

    return call


def _nothing(*args: Any) -> None:
    return None


def _no(*args: Any) -> bool:
    return False


# KEYS[1]: the client's window, a sorted set of request times. ARGV: now, the window's seconds,
# the limit, a member unique to this request. Answers {1} when recorded, else {0, oldest time}.
RECORD_IN_WINDOW = """
local now = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - duration)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('EXPIRE', KEYS[1], math.ceil(duration))
    return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, oldest[2]}
"""


@dataclass(frozen=True)
class WindowAnswer:
    """What ``record_in_window`` said: recorded, or refused since ``oldest`` (a time) is in."""

    recorded: bool
    oldest: float | None = None


class FailOpenRedisCacheClient(RedisCacheClient):
    """Django's Redis client: while Redis is unreachable a read misses and a write does nothing.

    It keeps one ``redis.Redis`` per connection pool: Django's makes a new one on every call
    (about 47 us each, several calls a request), though a client is thread-safe and only hands
    its pool's connections out.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # RedisCacheClient's own pool and client class, which django-stubs leaves undeclared.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:  # two threads may both make one: either serves
            client = self._client(connection_pool=pool)  # type: ignore[attr-defined]
            self._clients[id(pool)] = client
        return client

    get = _failing_open("get", RedisCacheClient.get, lambda key, default: default)
    get_many = _failing_open("get", RedisCacheClient.get_many, lambda keys: {})
    has_key = _failing_open("get", RedisCacheClient.has_key, _no)
    set = _failing_open("set", RedisCacheClient.set, _nothing)
    add = _failing_open("set", RedisCacheClient.add, _no)
    set_many = _failing_open("set", RedisCacheClient.set_many, _nothing)
    touch = _failing_open("set", RedisCacheClient.touch, _no)
    delete = _failing_open("delete", RedisCacheClient.delete, _no)
    delete_many = _failing_open("delete", RedisCacheClient.delete_many, _nothing)

    def _record_in_window(
        self, key: str, now: float, duration: float, limit: int
    ) -> WindowAnswer | None:
        client = self.get_client(key, write=True)
        # EVALSHA, and EVAL once when this Redis has not seen the script yet.
        script = client.register_script(RECORD_IN_WINDOW)
        answer = script(keys=[key], args=[now, duration, limit, uuid.uuid4().hex])
        if int(answer[0]) == 1:
            return WindowAnswer(recorded=True)
        return WindowAnswer(recorded=False, oldest=float(answer[1]))

    # None while Redis is unreachable: the request goes unthrottled, as with get and set.
    record_in_window = _failing_open("throttle", _record_in_window, _nothing)


class FailOpenRedisCache(RedisCache):
    """CACHES' backend when CACHE_URL is set: see the module's docstring."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = params.setdefault("OPTIONS", {})
        options.setdefault("socket_connect_timeout", SOCKET_TIMEOUT_SECONDS)
        options.setdefault("socket_timeout", SOCKET_TIMEOUT_SECONDS)
        super().__init__(server, params)
        self._class = FailOpenRedisCacheClient

    def record_in_window(
        self, key: str, *, now: float, duration: float, limit: int
    ) -> WindowAnswer | None:
        """Record a request at ``now`` unless ``limit`` are in the window; see the docstring."""
        client = self._cache
        assert isinstance(client, FailOpenRedisCacheClient)
        answer: WindowAnswer | None = client.record_in_window(
            self.make_and_validate_key(key), now, duration, limit
        )
        return answer
