"""Gunicorn configuration for every environment: ``gunicorn -c config/gunicorn.py config.wsgi``.

Threads matter here: the legacy order path blocks on the supplier (no timeout, hangs of 5 s),
so each worker needs several threads to keep accepting requests. Values come from the
environment; defaults suit a 2-core machine.

With several workers, Prometheus metrics live in files under PROMETHEUS_MULTIPROC_DIR (set and
wiped by `make run`, a tmpfs volume in docker-compose) so that /metrics sums every worker.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A deep accept queue: a burst of orders waits for a thread instead of being reset.
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
# The request log's final line is the one line per request (observability.request_log), with
# the trace id, route and duration an access line lacks; GUNICORN_ACCESS_LOG (a path, or "-"
# for stderr) adds gunicorn's own line beside it.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"


def child_exit(server: object, worker: object) -> None:
    """Prometheus multiprocess mode: drop a dead worker's live gauges from the aggregate."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]
