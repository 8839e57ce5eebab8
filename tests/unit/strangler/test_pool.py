"""The shadow pool: a candidate submitted while a request is served waits for its answer to
leave; outside a request it starts at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from strangler.pool import BoundedPool


@contextmanager
def signals_alone() -> Iterator[None]:
    """The request signals without Django's own handling of the database connections (as its
    test client sends them)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@contextmanager
def serving_a_request() -> Iterator[None]:
    """The two signals a server sends around a request."""
    with signals_alone():
        request_started.send(sender=None)
        yield
        request_finished.send(sender=None)


def spied(pool: BoundedPool, monkeypatch: Any) -> list[Any]:
    """What the pool hands to its threads."""
    handed: list[Any] = []
    submit = pool._executor.submit

    def spy(run: Any) -> Any:
        handed.append(run)
        return submit(run)

    monkeypatch.setattr(pool._executor, "submit", spy)
    return handed


def test_a_candidate_submitted_during_a_request_starts_once_the_answer_has_left(monkeypatch):
    pool = BoundedPool(1)
    handed = spied(pool, monkeypatch)

    with serving_a_request():
        future = pool.try_submit(lambda: "compared")
        held = list(handed)

    assert held == []  # nothing ran beside the request
    assert future is not None and future.result(timeout=30) == "compared"
    assert len(handed) == 1


def test_a_candidate_submitted_outside_a_request_starts_at_once(monkeypatch):
    pool = BoundedPool(1)
    handed = spied(pool, monkeypatch)

    future = pool.try_submit(lambda: "compared")

    assert len(handed) == 1
    assert future is not None and future.result(timeout=30) == "compared"


def test_a_candidate_left_by_a_response_never_closed_starts_with_the_next_request(monkeypatch):
    pool = BoundedPool(1)
    handed = spied(pool, monkeypatch)
    with signals_alone():
        request_started.send(sender=None)
        future = pool.try_submit(lambda: "late")
        request_started.send(sender=None)  # the next request; request_finished never came
        request_finished.send(sender=None)

    assert len(handed) == 1
    assert future is not None and future.result(timeout=30) == "late"
