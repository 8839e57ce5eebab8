"""Shadow writes that leave nothing behind: a transaction rolled back on every database, and
side effects refused while one runs.

``isolated()`` opens a transaction (a savepoint inside one already open) on every database alias
and rolls all of them back at the end, whatever happened inside: the rows the candidate wrote,
its outbox messages and queued mails (rows too), and the ``on_commit`` callbacks that would have
relayed them are discarded with it. On PostgreSQL each statement is held to the candidate's
budget (``SET LOCAL statement_timeout``, undone by the rollback).

Whatever does not go through a database is refused while the candidate runs, by guards installed
once at start-up and gated by a context variable (so no other code, and no other thread, is
affected): an HTTP call through ``requests`` (the supplier), a message published to the broker
(Celery), a mail handed to a backend. A refused side effect raises ``SideEffectRefused`` in the
candidate, which the comparison records as an error: a candidate meant to be isolated that
tries one is a bug to see, not to hide.

The context variable is ``observability.shadow``'s, where the apps read it too without knowing
the strangler: their indicators leave out what a shadow write did (a rolled-back placement is
not counted as placed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from observability import shadow

_installed = False


class SideEffectRefused(RuntimeError):
    """A shadow write tried something a rollback cannot undo."""


def isolated_aliases() -> list[str]:
    """Every database alias but test mirrors (a replica reads the primary's transaction)."""
    return [
        alias
        for alias, config in settings.DATABASES.items()
        if not config.get("TEST", {}).get("MIRROR")
    ]


@contextmanager
def isolated(budget_seconds: float | None = None) -> Iterator[None]:
    """Run the block in transactions that are rolled back, with side effects refused."""
    with shadow.shadow_write(), ExitStack() as stack:
        aliases = isolated_aliases()
        for alias in aliases:
            stack.enter_context(transaction.atomic(using=alias))
            if budget_seconds is not None and connections[alias].vendor == "postgresql":
                with connections[alias].cursor() as cursor:
                    timeout_ms = max(1, int(budget_seconds * 1000))
                    cursor.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
        try:
            yield
        finally:
            for alias in aliases:
                transaction.set_rollback(True, using=alias)


def _refusing(what: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if shadow.active():
            raise SideEffectRefused(f"a shadow write may not {what}")
        return method(*args, **kwargs)

    return guarded


def install_guards() -> None:
    """Wrap the three ways out once per process (idempotent)."""
    global _installed
    if _installed:
        return
    import django.core.mail
    import requests.adapters
    from celery import Celery

    requests.adapters.HTTPAdapter.send = _refusing(  # type: ignore[method-assign]
        "make an HTTP call", requests.adapters.HTTPAdapter.send
    )
    Celery.send_task = _refusing(  # type: ignore[method-assign]
        "publish a task to the broker", Celery.send_task
    )
    django.core.mail.get_connection = _refusing("send a mail", django.core.mail.get_connection)
    _installed = True
