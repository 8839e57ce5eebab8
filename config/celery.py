"""The Celery app: workers run the project's tasks with the project's settings and logging.

Broker: Redis when CELERY_BROKER_URL or REDIS_URL is set; on the embedded defaults kombu's
filesystem transport under var/celery, so `make run` starts a real worker with no server.
Reliability settings and their reasons are in docs/adr/0008-celery-settings.md.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.exceptions import WorkerShutdown
from celery.signals import (
    after_task_publish,
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_shutting_down,
)
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task gets the redelivery cap and the failed-task record (outbox.reliability).
app = Celery("monolithos", task_cls="outbox.reliability:ReliableTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TaskLogStep(DjangoStructLogInitStep):
    """django-structlog's worker step: each task's run logged under the publisher's trace id.

    The step connects the publishing receivers a second time, beside those its app connected
    at start-up (DJANGO_STRUCTLOG_CELERY_ENABLED): each message a task enqueues would get its
    log context built twice and two ``task_enqueued`` lines. Its own are disconnected again.
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        before_task_publish.disconnect(self.receiver.receiver_before_task_publish)
        after_task_publish.disconnect(self.receiver.receiver_after_task_publish)


app.steps["worker"].add(TaskLogStep)  # observability.tasks, docs/adr/0018


@setup_logging.connect
def use_the_project_logging(**_: Any) -> None:
    """Workers log exactly as the web does (JSON in production, the same masking)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@task_prerun.connect(dispatch_uid="config.connections_before_task")
@task_postrun.connect(dispatch_uid="config.connections_after_task")
def recycle_old_connections(task: Task | None = None, **_: Any) -> None:  # type: ignore[type-arg]
    """Between tasks, database connections are treated as Django treats them between requests.

    Kept up to CONN_MAX_AGE, replaced when broken, health-checked on reuse; Celery's own fixup
    would close them all (CELERY_DB_REUSE_MAX). Not for a task run eagerly inside a caller's
    transaction (a test's): that connection is the caller's.
    """
    if task is not None and not task.request.is_eager:
        from django.db import close_old_connections

        close_old_connections()


@worker_shutting_down.connect(dispatch_uid="config.stop_polling_at_once")
def stop_polling_at_once(how: str = "", exitcode: int = 0, **_: Any) -> None:
    """On the filesystem broker, a warm shutdown starts when it is asked for, not seconds later.

    That transport cannot wake a waiting consumer, so Celery's synchronous loop polls it in
    drains of 2 s and reads its shutdown flag only between them, then drains once more: a
    SIGTERM took 3 to 4 s to be noticed, and the stop as a whole 4.5 to 7 s, past the 5 s
    honcho waits on Ctrl-C in `make run` before it sends SIGKILL. Raised here, in the main
    process's signal handler, the shutdown interrupts the drain at once, and the worker stops
    as it would have: no new message is taken, running tasks finish (a warm shutdown), a
    message read but not yet handed over is restored to its queue when the channel closes.
    Redis, the broker everywhere else, has an event loop that wakes on the signal already.
    """
    if how == "Warm" and str(app.conf.broker_url).startswith("filesystem"):
        raise WorkerShutdown(exitcode)


@worker_process_init.connect(dispatch_uid="config.pool_process_in_its_own_group")
def leave_the_workers_process_group(**_: Any) -> None:
    """A pool process is stopped by its worker, not by a signal to the worker's process group.

    honcho (`make run`) stops each process with a SIGTERM to its whole group. It reached the
    pool processes too, which exited while their worker was stopping them itself; now and then
    one died holding the pool's queue lock, and the worker waited on that lock until honcho's
    SIGKILL (billiard's ``_help_stuff_finish``). In a group of their own they leave stopping to
    the worker, which stops them as it always did; they still die with it, whatever kills it
    (Celery sets their parent-death signal to SIGKILL).
    """
    os.setpgid(0, 0)
