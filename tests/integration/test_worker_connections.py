"""Database connections in the workers: kept between tasks, as Django keeps them between requests.

Celery's Django fixup would close every connection around every task (a new PostgreSQL session
per task: the largest CPU cost of the herd); with CELERY_DB_REUSE_MAX set it leaves them, and
``config.celery`` applies CONN_MAX_AGE and the health checks between tasks instead.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from celery.fixups.django import DjangoWorkerFixup  # type: ignore[attr-defined]
from django.db import connection

from config.celery import app, recycle_old_connections

pytestmark = pytest.mark.django_db(transaction=True)


def task(*, eager: bool = False) -> Any:
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def between_tasks() -> None:
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_postrun(sender=task())
    recycle_old_connections(task=task())
    fixup.on_task_prerun(sender=task())
    recycle_old_connections(task=task())


@pytest.fixture
def closed(monkeypatch) -> list[str]:
    """Each time the default connection is closed (SQLite's in-memory test database ignores it)."""
    calls: list[str] = []

    def close() -> None:
        calls.append(connection.alias)
        connection.close_at = time.monotonic() + 60  # as the next, new connection's

    monkeypatch.setattr(connection, "close", close)
    return calls


def test_a_connection_is_kept_from_one_task_to_the_next(closed):
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60  # CONN_MAX_AGE: a minute to go

    between_tasks()

    assert closed == []


def test_a_connection_past_its_max_age_is_replaced_between_tasks(closed):
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1

    between_tasks()

    assert closed == ["default"]


def test_an_eager_task_leaves_its_callers_connection_alone(closed):
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1

    recycle_old_connections(task=task(eager=True))

    assert closed == []
