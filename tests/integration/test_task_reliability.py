"""What every task gets from its base class: a redelivery cap, dead letters, capped backoff."""

from __future__ import annotations

import pytest
from celery import shared_task
from celery.exceptions import Retry

from observability import trace
from outbox.models import FailedTask, TaskDelivery
from outbox.reliability import backoff, count_delivery

pytestmark = pytest.mark.django_db

runs: list[str] = []


@shared_task(name="tests.reliability.record_run")
def record_run(label: str) -> str:
    runs.append(label)
    return label


@shared_task(bind=True, name="tests.reliability.always_fails", max_retries=2)
def always_fails(self, label: str) -> None:
    try:
        raise ValueError(f"cannot process {label}")
    except ValueError as error:
        raise self.retry(exc=error, countdown=0) from error


@pytest.fixture(autouse=True)
def _no_runs() -> None:
    runs.clear()


def test_a_task_that_returns_leaves_no_delivery_count_behind():
    result = record_run.apply(args=("ok",), task_id="task-ok")

    assert result.result == "ok"
    assert not TaskDelivery.objects.exists()
    assert not FailedTask.objects.exists()


def test_a_message_whose_worker_died_each_time_is_recorded_instead_of_run_again(settings):
    settings.CELERY_TASK_MAX_DELIVERIES = 3
    # Three deliveries that started and never returned: the worker was killed each time.
    for _ in range(3):
        count_delivery("task-poison", "tests.reliability.record_run")

    with trace.bound_trace_id("0af7651916cd43dd8448eb211c80319c"):
        record_run.apply(args=("poison",), task_id="task-poison")

    assert runs == []
    failed = FailedTask.objects.get(task_id="task-poison")
    assert (failed.task, failed.reason, failed.deliveries, failed.args) == (
        "tests.reliability.record_run",
        "redelivered",
        3,
        ["poison"],
    )
    assert not TaskDelivery.objects.exists()


def test_a_redelivery_below_the_cap_still_runs(settings):
    settings.CELERY_TASK_MAX_DELIVERIES = 3
    count_delivery("task-once-lost", "tests.reliability.record_run")

    record_run.apply(args=("again",), task_id="task-once-lost")

    assert runs == ["again"]
    assert not FailedTask.objects.exists()


def test_a_task_that_fails_after_its_retries_lands_in_the_failed_task_table():
    result = always_fails.apply(args=("order 7",), task_id="task-fails")

    assert result.state == "FAILURE"
    failed = FailedTask.objects.get(task_id="task-fails")
    assert failed.reason == "failed"
    assert "cannot process order 7" in failed.error
    assert failed.kwargs == {}
    assert not TaskDelivery.objects.exists()


def test_a_retry_is_not_counted_as_a_lost_delivery(monkeypatch):
    monkeypatch.setattr(always_fails, "max_retries", 5)

    def retry(exc: Exception, countdown: float) -> Exception:
        return Retry()

    monkeypatch.setattr(always_fails, "retry", retry)

    assert always_fails.apply(args=("x",), task_id="task-retry").state == "RETRY"
    assert not TaskDelivery.objects.exists()


@pytest.mark.parametrize("retries", [0, 3, 10, 40])
def test_backoff_is_jittered_and_capped_below_the_visibility_timeout(retries, settings):
    settings.CELERY_MAX_COUNTDOWN_SECONDS = 600
    delays = [backoff(retries, base=5) for _ in range(200)]

    assert all(0 <= delay <= min(600, 5 * 2**retries) for delay in delays)
    assert len(set(delays)) > 1
    assert max(delays) <= settings.CELERY_VISIBILITY_TIMEOUT / 2
