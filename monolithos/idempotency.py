"""Idempotency keys for POST /api/v1/orders/, after the IETF Idempotency-Key draft and Stripe.

A client sends ``Idempotency-Key`` with a POST; a retry with the same key and the same body gets
the first answer again instead of a second order. The same key with a different body is the
client's bug (422). A retry that arrives while the first request still runs gets 409 and should
retry later. Requests rejected by validation store nothing, so a corrected body may reuse the
key. Keys are scoped to the authenticated client and kept IDEMPOTENCY_KEY_TTL_HOURS (at least
24 hours); a request that died holding its key gives it up after IDEMPOTENCY_LOCK_SECONDS.

The key is claimed in its own committed transaction, so a concurrent retry sees it; the answer
is recorded in the transaction that writes the order, so both exist or neither does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from monolithos.models import IdempotencyKey

MAX_KEY_LENGTH = 255


class KeyInFlight(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."
    default_code = "idempotency_key_in_flight"


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used with a different request body."
    default_code = "idempotency_key_reused"


@dataclass(frozen=True)
class Replay:
    """The answer stored for a key: what the first request got."""

    status: int
    body: Any


def fingerprint(method: str, path: str, body: Any) -> str:
    """A hash of what makes two requests the same one (the parsed body, not its formatting)."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(*, owner_id: int, key: str, fingerprint: str) -> IdempotencyKey | Replay:
    """Take the key for this request, or say what the first request with it got.

    Raises KeyReused (another body) or KeyInFlight (the first request still runs).
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                owner_id=owner_id,
                key=key,
                fingerprint=fingerprint,
                status=IdempotencyKey.IN_FLIGHT,
                created_at=now,
                locked_at=now,
            )
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.get(owner_id=owner_id, key=key)
    if existing.created_at < now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS):
        # Expired but not purged yet: the key starts a new life for this request.
        return _take_over(existing, fingerprint=fingerprint, now=now, reset=True)
    if existing.fingerprint != fingerprint:
        raise KeyReused()
    if existing.status == IdempotencyKey.COMPLETED:
        return Replay(status=existing.response_status or 200, body=existing.response_body)
    if existing.locked_at < now - timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS):
        # The first request died without answering (its transaction rolled back).
        return _take_over(existing, fingerprint=fingerprint, now=now, reset=False)
    raise KeyInFlight()


def _take_over(
    existing: IdempotencyKey, *, fingerprint: str, now: Any, reset: bool
) -> IdempotencyKey:
    # Compare-and-set on locked_at: of two retries taking over together, one wins.
    fields: dict[str, Any] = {"locked_at": now}
    if reset:
        fields.update(
            fingerprint=fingerprint,
            status=IdempotencyKey.IN_FLIGHT,
            response_status=None,
            response_body=None,
            created_at=now,
        )
    taken = IdempotencyKey.objects.filter(pk=existing.pk, locked_at=existing.locked_at).update(
        **fields
    )
    if not taken:
        raise KeyInFlight()
    existing.refresh_from_db()
    return existing


def complete(claimed: IdempotencyKey, *, status: int, body: Any) -> None:
    """Record the answer; call inside the transaction that writes the result."""
    IdempotencyKey.objects.filter(pk=claimed.pk).update(
        status=IdempotencyKey.COMPLETED, response_status=status, response_body=body
    )


def release(claimed: IdempotencyKey) -> None:
    """Give the key up: the request failed and wrote nothing, so a retry may run it again."""
    IdempotencyKey.objects.filter(pk=claimed.pk, status=IdempotencyKey.IN_FLIGHT).delete()


def purge_expired() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
