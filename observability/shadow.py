"""Whether the work in progress is a shadow write: a new handler run only to be compared, in
transactions that are rolled back when it ends (the strangler's ``isolation.isolated``).

The flag lives here, in the package every app may import, so that code of the apps can ask
without knowing the strangler (which no app imports). What a shadow write does never happened:
the indicators that count what happened leave it out (``observability.metrics.order_placement``:
a shadow placement is neither measured nor counted as placed), and the strangler's guards refuse
the side effects no rollback can undo while it is set.

A context variable: set for one thread's block of work only (and for what that block copies
its context into), so no other request or thread is affected. Imports nothing of the project.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_shadow_write: contextvars.ContextVar[bool] = contextvars.ContextVar("shadow_write", default=False)


def active() -> bool:
    """True while a shadow write runs in this context."""
    return _shadow_write.get()


@contextmanager
def shadow_write() -> Iterator[None]:
    """Mark the block as a shadow write (the strangler's isolation, around a candidate)."""
    token = _shadow_write.set(True)
    try:
        yield
    finally:
        _shadow_write.reset(token)
