"""Django started inside a benchmark's own process, for benchmarks that run without a server.

By default on fresh SQLite files in a temporary directory (and the filesystem broker there);
with ``--use-configured-databases`` on the databases (and REDIS_URL) of the environment, which a
benchmark writes to, so only on a disposable environment. ``timed`` is the one stopwatch these
benchmarks read.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# What points Django at configured servers; left out, the embedded defaults apply.
SERVER_VARIABLES = (
    "DATABASE_URL",
    "LOGISTICS_DATABASE_URL",
    "REPLICA_DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
)


def add_database_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--use-configured-databases",
        action="store_true",
        help="use the databases from the environment instead of temporary SQLite files",
    )


def setup_django(use_configured: bool, *, name: str) -> Path | None:
    """Start Django; on temporary SQLite files unless told otherwise (returns their directory).

    No query log kept in memory (DEBUG off) and no console chatter: what is measured is the
    benchmark's own work.
    """
    temporary: Path | None = None
    if not use_configured:
        temporary = Path(tempfile.mkdtemp(prefix=f"monolithos-bench-{name}-"))
        os.environ["MONOLITHOS_VAR_DIR"] = str(temporary)
        for variable in SERVER_VARIABLES:
            os.environ.pop(variable, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    return temporary


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started
