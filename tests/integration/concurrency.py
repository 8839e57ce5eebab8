"""Running a use case in a thread of its own, with its own database connections.

Each thread opens its own connection to every alias it touches, as a web or worker thread does;
``InThread`` closes them when the thread ends so that no connection outlives the test database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import connections

T = TypeVar("T")

# How long a test waits for another thread to reach a point before it fails: a guard against a
# hang, never a delay the test relies on (each wait returns as soon as the other thread is there).
WAIT_SECONDS = 30.0


class InThread(Generic[T]):
    """``target`` started at once in a new thread; ``outcome()`` is its result or its error."""

    def __init__(self, target: Callable[[], T]) -> None:
        self._target = target
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._target()
        except BaseException as error:  # handed to the test's thread by outcome()
            self._error = error
        finally:
            connections.close_all()

    def outcome(self) -> T:
        self._thread.join(WAIT_SECONDS)
        assert not self._thread.is_alive(), "the thread did not finish"
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


def wait_for(event: threading.Event) -> None:
    assert event.wait(WAIT_SECONDS), "the other thread never got there"
