"""The herd: N requests on pre-opened connections, written at one common instant.

A raw HTTP/1.1 client on asyncio streams (connections opened first, every request written at
one instant, latency measured from that instant to the last byte of each answer), the
nearest-rank percentile every benchmark's p50/p95/p99 uses, the order bodies the herd posts,
and a JSON GET.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

ORDERS_PATH = "/api/v1/orders/"
FLOOR_PATH = "/floor/accept/"
SKU = "BOX-S"


@dataclass(frozen=True)
class Outcome:
    latency_s: float
    status: int | None = None
    body: bytes = b""
    error: str | None = None


@dataclass(frozen=True)
class Herd:
    outcomes: tuple[Outcome, ...]
    started: float  # perf_counter() of the common start instant

    def accepted(self, status: int) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def wall_s(self) -> float:
        return max((outcome.latency_s for outcome in self.outcomes), default=0.0)

    def throughput(self, status: int) -> float:
        return len(self.accepted(status)) / self.wall_s if self.wall_s > 0 else 0.0

    def latencies_ms(self) -> list[float]:
        return sorted(outcome.latency_s * 1000 for outcome in self.outcomes)

    def problems(self, status: int) -> dict[str, int]:
        counts = Counter(
            outcome.error or f"HTTP {outcome.status}"
            for outcome in self.outcomes
            if outcome.status != status
        )
        return dict(sorted(counts.items()))


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank, as bench/legacy_place.py: the smallest value with p% at or below it."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def http_request(
    port: int,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def _read_answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: float, timeout: float
) -> Outcome:
    try:
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await (reader.readexactly(length) if length is not None else reader.read())
        return Outcome(time.perf_counter() - started, status=status, body=body)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        return Outcome(time.perf_counter() - started, error=type(exc).__name__)
    except TimeoutError:
        return Outcome(time.perf_counter() - started, error="TimeoutError")
    finally:
        writer.close()


async def _herd(port: int, requests: Sequence[bytes], timeout: float) -> Herd:
    connecting = asyncio.Semaphore(100)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with connecting:
            return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)

    connections = await asyncio.gather(*(connect() for _ in requests), return_exceptions=True)
    # Let the server's workers accept what the kernel already completed: the herd starts with
    # every client connected and waiting, as many browsers or clients would be.
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    readers: list[asyncio.Task[Outcome]] = []
    failed: list[Outcome] = []
    for connection, raw in zip(connections, requests, strict=True):
        if isinstance(connection, BaseException):
            failed.append(Outcome(0.0, error=f"connect: {type(connection).__name__}"))
            continue
        reader, writer = connection
        writer.write(raw)
        readers.append(asyncio.ensure_future(_read_answer(reader, writer, started, timeout)))
    outcomes = [*await asyncio.gather(*readers), *failed]
    return Herd(outcomes=tuple(outcomes), started=started)


def fire(port: int, requests: Sequence[bytes], timeout: float) -> Herd:
    return asyncio.run(_herd(port, requests, timeout))


def order_body(index: int, run_id: str, skus: Sequence[str] = (SKU,)) -> dict[str, Any]:
    return {
        "customer_name": f"Herd Customer {index}",
        "customer_email": f"herd-{run_id}-{index}@example.com",
        "shipping_address": f"{index} Herd Lane\nStampede Town",
        "lines": [{"sku": skus[index % len(skus)], "quantity": 1}],
    }


def warm_up(port: int, request: Callable[[int], bytes]) -> Herd:
    """Three small bursts, so that every gunicorn worker has imported its views and connected."""
    for burst in range(3):
        herd = fire(port, [request(burst * 32 + i) for i in range(32)], 30)
    time.sleep(1)
    return herd


def herd_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}", "Idempotency-Key": str(uuid.uuid4())}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310  (our own http URL)
        return json.loads(response.read())
