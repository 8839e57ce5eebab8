"""Accept first, place later: the order requests of POST /api/v1/orders/ (docs/adr/0011).

``receive`` is all the request does once its input is valid: one INSERT of the order request,
committed by itself, and one broker message to the intake worker; or, with
ORDER_INTAKE_HAND_OVER=claimed, no message at all: a PostgreSQL NOTIFY after the INSERT
wakes ``manage.py intake_worker``, which claims received requests in batches
(``place_claimed``, docs/adr/0025). ``place`` is the worker's half:
it places the order through ``monolithos.placement.accept`` (order, lines, invoice, outbox
messages, mails and stock in one transaction; the order is owned by the request's caller) and
records the outcome on the request, in that same transaction, so a request is placed once or not
at all; a rejected request mails the customer why, in that transaction too. The request's row is
its own outbox: a message lost between the commit and the broker, or from the broker afterwards,
is handed to the outbox by ``monolithos.tasks.sweep_order_requests`` (``waiting_too_long``),
which then follows it to its placement (docs/adr/0015).

The row is also the client's Idempotency-Key (after the IETF Idempotency-Key draft and Stripe):
the same key with the same body returns the first request, with a different body it is the
client's bug (422). Acceptance is one statement, so two requests racing with one key are ordered
by the unique index: the second waits for the first's commit, then replays it; no request is ever
"still in flight" (no 409). Keys are scoped to the client and kept at least
IDEMPOTENCY_KEY_TTL_HOURS after their request was processed.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import CharField, Count, Min, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from monolithos import announcements, catalogue, placement
from monolithos.mailer import NotificationService
from monolithos.models import OrderRequest
from monolithos.placement import OrderError
from monolithos.repository import DatabaseRepo
from notifications.public import NotificationService as QueuedNotifications
from observability import trace
from observability.metrics import ORDER_REQUEST_WAIT_SECONDS
from outbox import broker, completion
from outbox.messages import Message, outstanding_message, publish
from outbox.owed import Owed

logger = structlog.get_logger(__name__)

MAX_KEY_LENGTH = 255
PLACE_TASK = "monolithos.tasks.place_order_request"
# ORDER_INTAKE_HAND_OVER: "broker" sends each request to the Celery intake queue after its
# commit; "claimed" leaves it for ``manage.py intake_worker`` (docs/adr/0025).
BROKER = "broker"
CLAIMED = "claimed"


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used with a different request body."
    default_code = "idempotency_key_reused"


@dataclass(frozen=True)
class Received:
    request: OrderRequest
    replayed: bool


def receive(*, owner_id: int, key: str | None, payload: dict[str, Any]) -> Received:
    """Record an order request and hand it to the intake worker, or replay the first one.

    The payload is checked against the catalogue first (``placement.validate``: unknown SKU
    or discount code, stock on hand, read without a lock, from the process's copy when it
    has one) and OrderError says what is wrong;
    the worker checks again, under the stock's lock. Raises KeyReused when ``key`` came with
    another body.
    """
    try:
        _check_against_catalogue(payload)
    except OrderError:
        # A retry whose first request was accepted replays it, even if the stock is gone since.
        first = _first_with(owner_id, key, payload)
        if first is None:
            raise
        return first
    try:
        # One statement, committed on its own: no BEGIN and COMMIT of its own to pay for. In a
        # caller's transaction it takes a savepoint, so a duplicate key leaves that usable.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            request = OrderRequest.objects.create(
                owner_id=owner_id,
                idempotency_key=key,
                payload=payload,
                trace_id=trace.current_trace_id() or "",
                created_at=timezone.now(),
            )
    except IntegrityError:
        first = _first_with(owner_id, key, payload)
        if first is None:
            raise
        return first
    if settings.ORDER_INTAKE_HAND_OVER == CLAIMED:
        _announce(request.pk)
    else:
        # At once, or once the caller's transaction commits.
        transaction.on_commit(lambda: _hand_over(request.pk, request.trace_id))
    return Received(request, replayed=False)


def _check_against_catalogue(payload: dict[str, Any]) -> None:
    """The process's copy of the catalogue lets an order through; only the database refuses it.

    A copy that missed a change could refuse an order the database would take; one that lets
    through an order the stock no longer covers is rejected by the worker, as a race for the
    last units always could be (docs/adr/0025).
    """
    try:
        placement.validate(payload, repo=catalogue.intake_copy())
    except OrderError:
        placement.validate(payload, repo=DatabaseRepo())


def _first_with(owner_id: int, key: str | None, payload: dict[str, Any]) -> Received | None:
    """The request this client sent earlier with ``key``, if any (KeyReused: another body)."""
    if key is None:
        return None
    first = OrderRequest.objects.filter(owner_id=owner_id, idempotency_key=key).first()
    if first is None:
        return None
    # The same request is the same parsed body (not its formatting): compared as stored.
    if first.payload != payload:
        raise KeyReused()
    return Received(first, replayed=True)


def _announce(request_id: int) -> None:
    try:
        announcements.announce()
    except DatabaseError as error:
        # The request is committed: the intake worker's next look finds it all the same.
        logger.warning("order_request_not_announced", request=request_id, error=repr(error))


def _hand_over(request_id: int, trace_id: str) -> None:
    try:
        with trace.bound_trace_id(trace_id or None):
            # Short timeouts, one attempt: the request never waits on a sick broker (ADR 0015).
            broker.send(PLACE_TASK, args=[request_id])
    except Exception as error:
        # The request is committed: the sweep hands it over once the broker is back.
        logger.warning("order_request_not_enqueued", request=request_id, error=repr(error))


def place(request_id: int) -> OrderRequest | None:
    """Place a received request's order, or reject it; None when there is no such request.

    Idempotent: the request's row is locked, and one already processed is returned as it is.
    """
    mails = NotificationService(QueuedNotifications())
    with transaction.atomic():
        request = OrderRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.status != OrderRequest.RECEIVED:
            return request
        _place_locked(request, mails)
    _observe_wait(request)
    return request


@dataclass(frozen=True)
class ClaimedBatch:
    """What one claim did: the requests processed, and those that failed (left received)."""

    processed: list[OrderRequest]
    failed: list[int]


def place_claimed(*, limit: int, passing_over: Collection[int] = ()) -> ClaimedBatch:
    """Claim up to ``limit`` received requests and place each: the intake worker's batch.

    ``SELECT ... FOR UPDATE SKIP LOCKED`` (a no-op on SQLite, whose writers take turns): two
    intake workers, or a worker and a Celery ``place`` of a sweep's hand-over, never hold the
    same request, and a request is placed once because its status is read under its lock.
    Each request is placed in a savepoint of its own: one that fails unexpectedly is left
    received (``passing_over`` lets the caller leave it for a while; the sweep is the safety
    net) and the others' outcomes commit.
    """
    mails = NotificationService(QueuedNotifications())
    processed: list[OrderRequest] = []
    failed: list[int] = []
    with transaction.atomic():
        claimed = list(
            OrderRequest.objects.select_for_update(skip_locked=True)
            .filter(status=OrderRequest.RECEIVED)
            .exclude(pk__in=list(passing_over))
            .order_by("pk")[:limit]
        )
        for request in claimed:
            try:
                with transaction.atomic():
                    _place_locked(request, mails)
            except Exception:
                logger.exception("order_request_placement_failed", request=request.pk)
                failed.append(request.pk)
            else:
                processed.append(request)
    for request in processed:
        _observe_wait(request)
    return ClaimedBatch(processed=processed, failed=failed)


def _place_locked(request: OrderRequest, mails: NotificationService) -> None:
    """Place or reject a received request whose row the caller's transaction has locked."""
    try:
        # Under the trace id of the request that accepted it, however the message came.
        with trace.bound_trace_id(request.trace_id or None), transaction.atomic():
            request.order = placement.accept(
                request.payload, owner_id=request.owner_id, repo=DatabaseRepo(), mails=mails
            )
    except OrderError as error:
        # Valid when it arrived, not any more (the last units went to an earlier order).
        request.status = OrderRequest.REJECTED
        request.errors = {error.field: [str(error)]}
        mails.send_request_rejected(request)
        logger.info("order_request_rejected", request=request.pk, errors=request.errors)
    else:
        request.status = OrderRequest.PLACED
    request.processed_at = timezone.now()
    request.save(update_fields=["order", "status", "errors", "processed_at"])
    completion.done_in_this_transaction()  # when a sweep handed it over (docs/adr/0015)


def _observe_wait(request: OrderRequest) -> None:
    if request.processed_at is not None:
        waited = (request.processed_at - request.created_at).total_seconds()
        ORDER_REQUEST_WAIT_SECONDS.observe(waited)


def handover_key(request_id: int) -> str:
    """The outbox key of a request a sweep hands over again."""
    return f"order-request:{request_id}"


def waiting_too_long(limit: int) -> list[tuple[int, str]]:
    """Requests whose hand-over was lost: (id, trace id), oldest first.

    Received longer than OWED_WORK_LEASE_SECONDS ago, asked for by no outstanding outbox
    message (a sweep's hand-over the outbox follows already), and not possibly still waiting
    in the ``intake`` queue: accepted before its oldest message was sent (docs/adr/0015).
    """
    cutoff = timezone.now() - timedelta(seconds=settings.OWED_WORK_LEASE_SECONDS)
    try:
        left_behind = broker.left_behind(broker.queue_head(broker.queue_of(PLACE_TASK)))
    except broker.BrokerUnavailable:
        left_behind = None  # nothing is handed over now anyway; the outbox relays it later
    if left_behind is not None:
        cutoff = min(cutoff, left_behind)
    rows = (
        OrderRequest.objects.filter(status=OrderRequest.RECEIVED, created_at__lt=cutoff)
        .annotate(key=Concat(Value("order-request:"), Cast("pk", CharField())))
        .exclude(outstanding_message("key"))
        .order_by("created_at")
        .values_list("pk", "trace_id")[:limit]
    )
    return list(rows)


def hand_over_again(requests: list[tuple[int, str]]) -> None:
    """Hand ``requests`` to the outbox, each under the trace id of the request that accepted it;
    from then the outbox follows each to its placement."""
    with transaction.atomic():
        for request_id, trace_id in requests:
            with trace.bound_trace_id(trace_id or None):
                publish(
                    Message(
                        task=PLACE_TASK,
                        key=handover_key(request_id),
                        kwargs={"request_id": request_id},
                    )
                )


def owed_requests(now: datetime) -> Owed:
    """Requests not placed yet: how many past their lease, and the oldest one's acceptance."""
    received = OrderRequest.objects.filter(status=OrderRequest.RECEIVED)
    cutoff = now - timedelta(seconds=settings.OWED_WORK_LEASE_SECONDS)
    counted = received.aggregate(
        past=Count("pk", filter=Q(created_at__lt=cutoff)), oldest=Min("created_at")
    )
    return Owed(past_lease=counted["past"], oldest=counted["oldest"])


def purge_expired() -> int:
    """Delete processed requests older than the keys' retention; their orders stay."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = OrderRequest.objects.filter(processed_at__lt=cutoff).delete()
    return deleted
