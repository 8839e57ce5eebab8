"""The rounds' HTTP client and what their answers' latencies come to.

One request at a time per call (``call``), each with a trace id of its own in ``X-Request-ID``
so that its log lines can be found; a herd goes through the harness's ``fire`` instead
(bench/harness/client.py). Latency statistics use its nearest-rank percentile, so every
benchmark's p99 means the same.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.fight.arena import trace_id
from bench.harness.client import percentile


@dataclass(frozen=True)
class Answer:
    kind: str  # what the request was for: place, track, ship, ...
    side: str  # the mode its route was in
    trace_id: str
    started: float  # monotonic
    latency_s: float
    status: int | None
    body: Any = None
    error: str = ""


def call(
    port: int,
    method: str,
    path: str,
    *,
    kind: str,
    side: str,
    body: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> Answer:
    trace = trace_id()
    payload = None if body is None else json.dumps(body)
    headers = {"X-Request-ID": trace, "Accept": "application/json"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        latency = time.monotonic() - started
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Answer(kind, side, trace, started, latency, response.status, parsed)
    except (OSError, http.client.HTTPException) as error:
        return Answer(
            kind, side, trace, started, time.monotonic() - started, None, error=type(error).__name__
        )
    finally:
        connection.close()


@dataclass(frozen=True)
class Latency:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ordered = sorted(s * 1000 for s in seconds)
        return cls(
            len(ordered),
            percentile(ordered, 50),
            percentile(ordered, 99),
            ordered[-1] if ordered else 0.0,
        )

    def cells(self) -> tuple[str, str, str]:
        return (f"{self.p50_ms:,.0f}", f"{self.p99_ms:,.0f}", f"{self.max_ms:,.0f}")
