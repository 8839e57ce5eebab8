"""Liveness and readiness.

``/healthz`` says the process is alive and checks nothing else: a liveness probe that checked
the database would restart every pod whenever the database wobbled. ``/readyz`` runs every
registered readiness check and answers 503 naming each one that failed: every database alias,
plus what other capabilities register (the supplier breaker's state). A check may also report
its dependency as degraded (``Degraded``): down, but the process keeps serving without it and
the work waits (the broker: requests are committed and the sweeps hand them over later, the
outbox's check says what is owed). That answers 200 with status ``degraded``: taking every web
process out of the load balancer would turn a degraded system into a down one. The cache's
state is shown, never failed on: it fails open.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from django.conf import settings
from django.db import connections

logger = structlog.get_logger(__name__)

ReadinessCheck = Callable[[], str | None]
"""Returns (optionally a detail to show, such as a breaker's state) when the dependency is
usable; raises with the reason when it is not."""

_checks: dict[str, ReadinessCheck] = {}


class Degraded(Exception):
    """Raised by a check whose dependency is down while the process keeps serving without it."""


def register_readiness_check(name: str, check: ReadinessCheck) -> None:
    _checks[name] = check


def database_check(alias: str) -> ReadinessCheck:
    def check() -> str | None:
        connection = connections[alias]
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:
            # Drop a broken connection so the next probe reconnects instead of reusing it.
            connection.close()
            raise
        return None

    return check


def broker_check() -> str | None:
    """A web process that cannot enqueue cannot hand work to the workers (the outbox registers
    a check of its own under this name, which says what is owed)."""
    from celery import current_app

    with current_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    return None


def cache_check() -> str:
    """Reported, never failed on: the cache fails open (config/cache.py)."""
    import redis

    if not settings.CACHE_URL:
        return "in process memory (CACHE_URL unset)"
    client = redis.Redis.from_url(
        settings.CACHE_URL, socket_connect_timeout=0.5, socket_timeout=0.5
    )
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as error:
        return f"Redis unreachable ({type(error).__name__}): no throttling, no quote cache"
    finally:
        client.close()
    return "Redis"


def readiness_checks() -> dict[str, ReadinessCheck]:
    database_checks = {f"database:{alias}": database_check(alias) for alias in settings.DATABASES}
    return {**database_checks, "broker": broker_check, "cache": cache_check, **_checks}


def run_readiness_checks() -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for name, check in readiness_checks().items():
        try:
            detail = check()
        except Degraded as degraded:
            logger.warning("readiness_check_degraded", check=name, detail=str(degraded))
            results[name] = {"ok": True, "degraded": True, "detail": str(degraded)}
        except Exception as error:
            logger.warning("readiness_check_failed", check=name, error=repr(error))
            # The body names the failure's kind only: connection strings stay in the logs.
            results[name] = {"ok": False, "error": type(error).__name__}
        else:
            results[name] = {"ok": True} if detail is None else {"ok": True, "detail": detail}
    return results
