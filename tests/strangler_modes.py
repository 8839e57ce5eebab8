"""The characterization suite, once per strangler mode and data phase: every strangled route in
that mode, the shipping data in that phase.

``pytest`` runs each characterization test nine times: with every strangled route in
``legacy``, in ``shadow`` and in ``new`` (``--strangler-modes=legacy`` to run one), each in the
data ownership phases ``legacy``, ``verify`` and ``logistics`` (``--ownership-phases=legacy``
to run one); the test files are unchanged. In ``verify`` every read of the shipping data must
also have agreed with logistics (no verify mismatch stored); in ``logistics`` the reads come
from logistics and the suite's expectations hold as they are. ``contract`` is not among them:
the columns are no longer written there, and the suite's tests read them.

In ``new`` mode the workers run after each request, as they do within milliseconds of it in
production (``Workers``): what the new handlers hand to the outbox is done before the test
looks. A test that pins a behaviour the new handlers change on purpose is listed in
``DECLARED`` with the declared difference it meets: it is expected to fail in that mode
(``xfail(strict=True)``: should it pass, the run fails and the declaration is stale), and each
declared difference is pinned by its own test (tests/integration/strangler/
test_declared_differences.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app
from django.core.signals import request_finished
from django.utils import timezone

MODES = ("legacy", "shadow", "new")
PHASES = ("legacy", "verify", "logistics")

PLACEMENT_BODY = "api_place_order answers 201 before the dispatch: placed, pending, no tracking"
SHIP_ACCEPTED = "api_ship_order answers 202 and the worker dispatches"
SHIP_FAILURES = "api_ship_order leaves supplier failures to the worker: 202, not 502"
INVOICE_LATER = "api_invoice_pdf never renders in the request: 202 with Retry-After"

DECLARED: dict[str, dict[str, str]] = {
    "shadow": {},
    "new": {
        "test_place_order_api.py::test_placing_an_order_answers_201_with_the_priced_and_dispatched_order": PLACEMENT_BODY,  # noqa: E501
        "test_place_order_api.py::test_an_order_placed_while_the_supplier_fails_is_kept_but_not_dispatched": PLACEMENT_BODY,  # noqa: E501
        "test_track_ship_invoice_api.py::test_shipping_an_undispatched_order_dispatches_it": SHIP_ACCEPTED,  # noqa: E501
        "test_track_ship_invoice_api.py::test_shipping_while_the_supplier_fails_answers_502_and_changes_nothing": SHIP_FAILURES,  # noqa: E501
        "test_track_ship_invoice_api.py::test_shipping_when_the_supplier_is_unreachable_answers_502": SHIP_FAILURES,  # noqa: E501
        "test_track_ship_invoice_api.py::test_an_invoice_whose_file_is_missing_is_rendered_on_download": INVOICE_LATER,  # noqa: E501
    },
}


def declared_difference(mode: str, filename: str, function: str) -> str | None:
    return DECLARED.get(mode, {}).get(f"{filename}::{function}")


class Workers:
    """The Celery workers, in this process: every unpublished outbox message, run at once.

    Each task's first attempt only (its retries are the worker's business later), with one
    supplier attempt per dispatch, as the background gateway's first try. The messages of every
    alias are run: the legacy app's hand-offs on ``default``, then the shipment's events on
    ``logistics`` (the legacy order's columns follow them, as they do from a real worker).
    """

    def __init__(self, settings: Any) -> None:
        from config.celery import app

        app.loader.import_default_modules()  # every app's tasks, as a worker registers them
        settings.SUPPLIER_BACKGROUND_ATTEMPTS = 1
        settings.CELERY_MAX_COUNTDOWN_SECONDS = 0  # a retry is left to the sweep

    def run(self) -> None:
        from outbox.models import OutboxMessage, message_aliases

        eager = current_app.conf.task_always_eager
        current_app.conf.task_always_eager = True  # a task's own .delay() runs here too
        try:
            for _ in range(10):
                pending = [
                    (alias, message)
                    for alias in message_aliases()
                    for message in OutboxMessage.objects.using(alias).filter(
                        published_at__isnull=True
                    )
                ]
                if not pending:
                    break
                for alias, message in pending:
                    OutboxMessage.objects.using(alias).filter(pk=message.pk).update(
                        published_at=timezone.now()
                    )
                for _alias, message in pending:
                    current_app.tasks[message.task].apply(kwargs=message.kwargs)
        finally:
            current_app.conf.task_always_eager = eager

    def after_request(self, **_: Any) -> None:
        self.run()


@contextmanager
def workers_after_each_request(settings: Any) -> Iterator[Workers]:
    workers = Workers(settings)
    request_finished.connect(workers.after_request, dispatch_uid="tests.strangler_workers")
    try:
        yield workers
    finally:
        request_finished.disconnect(dispatch_uid="tests.strangler_workers")


def assert_every_verify_read_agreed(request: Any) -> None:
    """No verify read of the test disagreed (a test without the database read nothing)."""
    if "django_db_setup" not in request.fixturenames:
        return
    from strangler.models import ModeChange, ShadowMismatch

    disagreed = list(
        ShadowMismatch.objects.filter(route=ModeChange.DATA_PHASE).values(
            "context", "routing_key", "diff", "error"
        )
    )
    assert disagreed == [], "verify reads disagreed with logistics"
