"""Everything the simulated supplier remembers, shared by all request threads under one lock.

That is the dispatch ledger, the idempotency keys, the log of received requests, the chaos
settings and the RNG that decides each request's fate. Drawing the fate and logging the
arrival happen under the same lock, so for a given seed the Nth supplier request always gets
the Nth outcome, whatever the thread scheduling.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from supplier_sim.config import ChaosConfig
from supplier_sim.models import Dispatch, DispatchRequest

Outcome = Literal["ok", "failed", "hung"]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    hang_seconds: float = 0.0


@dataclass
class RequestRecord:
    """One received supplier request; outcome and status are filled in as they are decided."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    outcome: Outcome | None = None
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "body": self.body,
            "outcome": self.outcome,
            "status": self.status,
        }


class IdempotencyConflict(Exception):
    """An Idempotency-Key was presented again with a different request body."""


def tracking_number(seed: int | None, supplier_reference: str) -> str:
    # Derived from the reference, not drawn from the RNG, so that the chaos outcome sequence
    # for a seed does not shift when dispatches are created.
    digest = hashlib.sha256(f"{seed}:{supplier_reference}".encode()).hexdigest()
    return "TRK" + digest[:10].upper()


class SupplierState:
    def __init__(self, chaos: ChaosConfig) -> None:
        self._lock = threading.Lock()
        self._chaos = chaos
        self._rng = random.Random(chaos.seed)
        self._next_sequence = 1
        self._dispatches: list[Dispatch] = []
        self._by_reference: dict[str, Dispatch] = {}
        self._by_key: dict[str, tuple[str, Dispatch]] = {}
        self._requests: list[RequestRecord] = []

    @property
    def chaos(self) -> ChaosConfig:
        with self._lock:
            return self._chaos

    def set_chaos(self, chaos: ChaosConfig, *, reseed: bool) -> None:
        with self._lock:
            self._chaos = chaos
            if reseed:
                self._rng.seed(chaos.seed)

    def admit(
        self,
        *,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        chaotic: bool,
    ) -> tuple[RequestRecord, Verdict]:
        """Log a supplier request on arrival and, if chaos applies to it, draw its fate."""
        with self._lock:
            record = RequestRecord(
                seq=len(self._requests) + 1,
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
            )
            verdict = self._draw() if chaotic else Verdict("ok")
            record.outcome = verdict.outcome
            self._requests.append(record)
            return record, verdict

    def _draw(self) -> Verdict:
        if self._rng.random() < self._chaos.failure_rate:
            return Verdict("failed")
        if self._rng.random() < self._chaos.hang_rate:
            return Verdict("hung", self._chaos.hang_seconds)
        return Verdict("ok")

    def settle(self, record: RequestRecord, status: int) -> None:
        with self._lock:
            record.status = status

    def create_dispatch(
        self, request: DispatchRequest, *, fingerprint: str, idempotency_key: str | None
    ) -> tuple[Dispatch, bool]:
        """The dispatch for this request and whether it is new; replays return the original.

        `fingerprint` identifies the request body; a known key with another fingerprint raises
        IdempotencyConflict. The lookup and the insert share the lock, so two concurrent
        requests with the same key still produce a single dispatch.
        """
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._by_key:
                known_fingerprint, original = self._by_key[idempotency_key]
                if known_fingerprint != fingerprint:
                    raise IdempotencyConflict(idempotency_key)
                return original, False
            reference = f"SUP-{self._next_sequence:06d}"
            self._next_sequence += 1
            dispatch = Dispatch(
                supplier_reference=reference,
                tracking_number=tracking_number(self._chaos.seed, reference),
                order_ref=request.order_ref,
                destination=request.destination,
                items=request.items,
                idempotency_key=idempotency_key,
                created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            )
            self._dispatches.append(dispatch)
            self._by_reference[reference] = dispatch
            if idempotency_key is not None:
                self._by_key[idempotency_key] = (fingerprint, dispatch)
            return dispatch, True

    def get_dispatch(self, supplier_reference: str) -> Dispatch | None:
        with self._lock:
            return self._by_reference.get(supplier_reference)

    def ledger(self) -> list[Dispatch]:
        with self._lock:
            return list(self._dispatches)

    def requests(self) -> list[dict[str, Any]]:
        # Serialised under the lock because records are still mutated by in-flight requests.
        with self._lock:
            return [record.to_json() for record in self._requests]

    def reset(self) -> None:
        with self._lock:
            self._next_sequence = 1
            self._dispatches.clear()
            self._by_reference.clear()
            self._by_key.clear()
            self._requests.clear()
            self._rng.seed(self._chaos.seed)
