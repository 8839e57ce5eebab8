"""The API's throttles on Redis: one round trip that concurrent requests cannot pass over.

Against a private redis-server (tests/redis_server.py) as CACHE_URL's backend. Concurrency is
real threads released at once by a barrier; time is the throttle's clock (``timer``), never a
sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import cache

from httpapi.throttling import AnonRateThrottle, UserRateThrottle
from tests.redis_server import RedisServer

CLIENTS = 24


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    directory: Path = tmp_path_factory.mktemp("throttle-redis")
    with RedisServer(directory) as server:
        yield server


@pytest.fixture
def redis_cache(settings: Any, redis_server: RedisServer) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": redis_server.url()}
    }
    cache.clear()


def rates(settings: Any, user: str, anon: str = "60/minute") -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": user, "anon": anon, "token_failures": None},
    }


def request_of(user_id: int) -> Any:
    return SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=user_id), META={})


@pytest.mark.usefixtures("redis_cache")
def test_concurrent_requests_of_one_client_never_pass_over_the_rate(settings: Any) -> None:
    rates(settings, user="5/minute")
    barrier = threading.Barrier(CLIENTS)

    def one_request(_: int) -> bool:
        throttle = UserRateThrottle()
        barrier.wait()
        return throttle.allow_request(request_of(7), None)

    with ThreadPoolExecutor(CLIENTS) as pool:
        allowed = list(pool.map(one_request, range(CLIENTS)))

    assert allowed.count(True) == 5


@pytest.mark.usefixtures("redis_cache")
def test_the_window_slides_and_says_how_long_to_wait(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates(settings, user="2/minute")
    now = [1_000_000.0]
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: now[0])

    def at(moment: float) -> tuple[bool, float | None]:
        now[0] = 1_000_000.0 + moment
        throttle = UserRateThrottle()
        allowed = throttle.allow_request(request_of(8), None)
        return allowed, None if allowed else throttle.wait()

    assert [at(0), at(10), at(20), at(61), at(62)] == [
        (True, None),
        (True, None),
        (False, 40.0),  # until the request at 0 leaves the window
        (True, None),  # it has; a refused request took no room
        (False, 8.0),  # until the request at 10 leaves
    ]


@pytest.mark.usefixtures("redis_cache")
def test_each_client_and_each_scope_has_its_own_window(settings: Any) -> None:
    rates(settings, user="1/minute", anon="1/minute")
    anonymous: Any = SimpleNamespace(
        user=SimpleNamespace(is_authenticated=False),
        headers={},
        META={"REMOTE_ADDR": "203.0.113.5"},
    )

    first = [UserRateThrottle().allow_request(request_of(user), None) for user in (1, 2)]
    again = UserRateThrottle().allow_request(request_of(1), None)
    anon = [AnonRateThrottle().allow_request(anonymous, None) for _ in range(2)]

    assert (first, again, anon) == ([True, True], False, [True, False])


def test_without_redis_the_throttle_is_drf_s_own(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    rates(settings, user="2/minute")

    allowed = [UserRateThrottle().allow_request(request_of(9), None) for _ in range(3)]

    assert allowed == [True, True, False]
    assert len(cache.get("throttle_user_9")) == 2  # DRF's history, in the process's memory


@pytest.mark.usefixtures("redis_cache")
def test_the_cache_makes_one_redis_client_and_every_thread_uses_it() -> None:
    client = cache._cache  # type: ignore[attr-defined]  # Django's RedisCacheClient, ours
    first = client.get_client(write=True)

    def round_trip(n: int) -> Any:
        cache.set(f"thread-{n}", n)
        assert cache.get(f"thread-{n}") == n
        return client.get_client(write=True)

    with ThreadPoolExecutor(8) as pool:
        used = set(map(id, pool.map(round_trip, range(32))))

    assert used == {id(first)}
