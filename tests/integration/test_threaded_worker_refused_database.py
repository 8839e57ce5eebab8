"""A threaded worker keeps taking messages after the database refused it a connection.

The ``logistics`` worker runs its tasks in a thread pool (Procfile ``dispatcher``). Celery's
thread pool hands a task's outcome back to the worker only when the traced run returns; an
exception that escapes the tracer is kept in the pool's future and dropped, so the message is
neither acknowledged nor rejected and holds its prefetch slot until the worker stops. A run
whose database refuses connections ("sorry, too many clients already") fails before its body
and then again in the failure handler, which records the failure in the same database.

Here a message goes through the worker's own path (its request, the fast tracer every worker
uses, the thread pool) while every new database connection is refused; its outcome must come
back and settle the message, and once connections are accepted again the next message runs on
the same thread, with a connection of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import shared_task
from celery.app import trace
from celery.concurrency.thread import TaskPool
from celery.contrib.testing.mocks import TaskMessage
from celery.worker.request import Request
from django.db import connections
from kombu.serialization import prepare_accept_content

from config.celery import app

runs: list[str] = []


@shared_task(name="tests.threaded_worker.record_run")
def record_run(label: str) -> str:
    runs.append(label)
    return label


@pytest.fixture
def pool(monkeypatch, transactional_db: None) -> Iterator[TaskPool]:
    """One pool thread, tasks traced as a started worker traces them (``fast_trace_task``)."""
    runs.clear()
    monkeypatch.setattr(app, "use_fast_trace_task", True)
    monkeypatch.setattr(
        trace,
        "_localized",
        [app.tasks, prepare_accept_content(app.conf.accept_content), "test-worker"],
    )
    monkeypatch.setattr(
        record_run, "__trace__", trace.build_tracer(record_run.name, record_run, app=app)
    )
    threads = TaskPool(limit=1)
    threads.start()
    yield threads
    # The pool thread's connections are closed before the test database is flushed.
    threads.apply_async(connections.close_all, callback=lambda _: None).wait()
    threads.stop()


@pytest.fixture
def refused_connections(monkeypatch) -> Callable[[], None]:
    """Every new connection is refused, as by a server at its ``max_connections``, until the
    returned ``lift`` is called. The pool thread has none open yet: its first run opens one."""
    connection_class = type(connections["default"])
    accept = connection_class.get_new_connection

    def refuse(self: Any, conn_params: dict[str, Any]) -> Any:
        raise self.Database.OperationalError("sorry, too many clients already")

    def lift() -> None:
        monkeypatch.setattr(connection_class, "get_new_connection", accept)

    monkeypatch.setattr(connection_class, "get_new_connection", refuse)
    return lift


def run_in_pool(pool: TaskPool, label: str) -> Any:
    """Hand one message to the pool as the consumer does; return it once its run ended."""
    message = TaskMessage(record_run.name, args=(label,))
    request = Request(
        message,
        app=app,
        on_ack=message.ack_log_error,
        on_reject=message.reject_log_error,
        task=record_run,
    )
    request.execute_using_pool(pool).wait()
    return message


def test_a_run_refused_its_database_settles_its_message_and_the_next_one_runs(
    pool, refused_connections
):
    # Acknowledged late (CELERY_TASK_ACKS_LATE), a message is settled only by its outcome.
    assert record_run.acks_late
    refused = run_in_pool(pool, "refused")

    assert runs == []
    settled = refused.ack_log_error.call_count + refused.reject_log_error.call_count
    assert settled == 1, "the message of the refused run was neither acknowledged nor rejected"

    refused_connections()  # lifted: connections are accepted again
    after = run_in_pool(pool, "after")

    assert runs == ["after"]
    assert after.ack_log_error.call_count == 1
