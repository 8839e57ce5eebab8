"""Where the supplier breaker's state lives: pybreaker's storage interface, made atomic.

pybreaker's storages change state in separate steps (``CircuitRedisStorage``: several round
trips per decision, dated by the client's clock) and cannot tell a caller whether it made a
transition. These keep pybreaker's interface (state, counters, opened_at) for its state machine
and add the transitions it lacks, each one atomic and answering who made it: ``StoredState``'s
methods under a lock in process memory (or in one SQLite transaction:
``logistics.adapters.breaker_sqlite``), one Lua script in Redis dated by Redis's ``TIME``.
Going half-open takes a probe lease that the holder's answer ends, or its expiry. A shared
store that cannot be reached fails open: logged, counted, and tried again once a second. Used
by ``logistics.adapters.breaker`` (docs/adr/0017, 0024); imports no Django.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar, cast

import pybreaker
import redis
import structlog
from prometheus_client import Counter

from observability.dependencies import Unreachable

logger = structlog.get_logger(__name__)

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]

BREAKER_STORAGE_UNAVAILABLE = Counter(
    "monolithos_supplier_breaker_storage_unavailable",
    "Operations on the breaker's shared state answered without its store (Redis or the SQLite "
    "file unreachable): the calls they belong to went through unguarded.",
    ["breaker"],
)
# pybreaker's state names; ours are label values, hence the underscore.
_LABELS: dict[str, State] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}


def state_label(pybreaker_state: str) -> State:
    return _LABELS[pybreaker_state]


class FailOpen:
    """A shared store's operations, answered by a fallback while the store cannot be reached.

    An error of ``errors`` marks the store unreachable (logged when it was reachable until then)
    and answers the fallback; until ``retry_after`` has passed, operations answer the fallback
    without trying, so that a hung store costs one timeout a second, not one per call. Every
    fallback answer is counted.
    """

    def __init__(
        self,
        breaker_name: str,
        errors: tuple[type[Exception], ...],
        *,
        clock: Callable[[], float],
        retry_after: float = 1.0,
    ) -> None:
        self.breaker_name = breaker_name
        self._errors = errors
        self._reachable = Unreachable(
            f"breaker:{breaker_name}", retry_after=retry_after, clock=clock
        )

    def __call__(
        self,
        fallback: T,
        operation: Callable[[], T],
        *,
        on_error: Callable[[], None] | None = None,
    ) -> T:
        if self._reachable.should_try():
            try:
                result = operation()
            except self._errors as error:
                if on_error is not None:
                    on_error()
                if self._reachable.failed(error):
                    logger.warning(
                        "circuit_breaker_storage_unavailable",
                        breaker=self.breaker_name,
                        error=str(error),
                    )
            else:
                self._reachable.succeeded()
                return result
        BREAKER_STORAGE_UNAVAILABLE.labels(self.breaker_name).inc()
        return fallback


@dataclass(frozen=True)
class BreakerSnapshot:
    name: str
    state: State
    failures: int  # consecutive failures counted so far (pybreaker's fail_counter)
    opened_at: float | None  # Unix time by the storage's clock
    seconds_until_probe: float | None  # None when closed or forced open
    forced: bool = False  # opened by an operator: no probe until force_close()
    # The shared state could not be read (its store unreachable): calls go through, as when closed.
    unknown: bool = False
    note: str = ""  # the last operator's command: who, when, why


@dataclass(frozen=True)
class Lease:
    """A storage's answer to a caller asking for the probe."""

    token: str | None = None  # granted: the caller holds the probe until it answers
    retry_after: float | None = None  # refused: seconds until a probe may be granted
    left_open: bool = False  # the grant moved the breaker from open to half-open
    # Neither token nor retry_after: no probe to take (closed meanwhile, or storage unreachable).


def _snapshot(
    name: str,
    reset_timeout: float,
    state: str,
    failures: int,
    opened_at: float | None,
    held: bool,
    now: float,
    probe_left: float,
    note: str = "",
) -> BreakerSnapshot:
    label = _LABELS[state]
    until: float | None = None
    if label == "open" and not held and opened_at is not None:
        until = max(0.0, opened_at + reset_timeout - now)
    elif label == "half_open":
        until = max(0.0, probe_left)  # 0: no probe in flight, the next caller gets it
    return BreakerSnapshot(name, label, failures, opened_at, until, held, note=note)


@dataclass
class StoredState:
    """All a breaker stores, and its atomic transitions: the caller holds the storage's lock.

    The memory and SQLite storages keep this record and run these methods under their lock (a
    mutex, a write transaction); the Redis storage's Lua scripts are the same rules written
    again (tests/integration/test_circuit_breaker.py compares them call for call).
    """

    state: str = pybreaker.STATE_CLOSED
    failures: int = 0
    successes: int = 0
    opened_at: float | None = None  # Unix time
    held: bool = False
    note: str = ""
    probe_token: str | None = None
    probe_expires: float = 0.0

    def holds_probe(self, token: str, now: float) -> bool:
        return self.probe_token == token and self.probe_expires > now

    def trip(self, probe_token: str | None, now: float) -> str | None:
        left = self.state
        if probe_token is not None:
            if not self.holds_probe(probe_token, now):
                return None
        elif left != pybreaker.STATE_CLOSED and not self.held:
            return None
        self.state, self.successes, self.opened_at = pybreaker.STATE_OPEN, 0, now
        self.probe_token = None
        return None if left == pybreaker.STATE_OPEN else left

    def take_probe(self, token: str, reset_timeout: float, now: float) -> Lease:
        if self.state == pybreaker.STATE_CLOSED:
            return Lease()
        if self.held:
            return Lease(retry_after=reset_timeout)
        if self.state == pybreaker.STATE_OPEN and self.opened_at is not None:
            wait = self.opened_at + reset_timeout - now
            if wait > 0:
                return Lease(retry_after=wait)
        if self.probe_token is not None and self.probe_expires > now:
            return Lease(retry_after=self.probe_expires - now)
        self.probe_token, self.probe_expires = token, now + reset_timeout
        left_open = self.state == pybreaker.STATE_OPEN
        self.state = pybreaker.STATE_HALF_OPEN
        if left_open:
            self.successes = 0
        return Lease(token=token, left_open=left_open)

    def release_probe(self, token: str) -> None:
        if self.probe_token == token:
            self.probe_token = None

    def close(self, probe_token: str | None, now: float) -> str | None:
        if probe_token is not None and not self.holds_probe(probe_token, now):
            return None
        left = self.state
        self.state, self.opened_at, self.probe_token = pybreaker.STATE_CLOSED, None, None
        self.failures = self.successes = 0
        return None if left == pybreaker.STATE_CLOSED else left

    def snapshot(self, name: str, reset_timeout: float, now: float) -> BreakerSnapshot:
        probe_left = self.probe_expires - now if self.probe_token else 0.0
        return _snapshot(
            name, reset_timeout, self.state, self.failures, self.opened_at, self.held, now,
            probe_left, self.note,
        )  # fmt: skip


class BreakerStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage interface plus the atomic transitions it lacks.

    ``trip`` and ``close`` return the state they moved the breaker out of, or None when the
    caller made no transition (another caller made it first, or its probe lease is gone): only
    a caller that made a transition announces it. A probe token names the lease's holder;
    without one, ``close`` is an operator's and ``trip`` a closed breaker's (or a held one's).
    """

    breaker_name: str

    @abstractmethod
    def trip(self, probe_token: str | None) -> str | None: ...

    @abstractmethod
    def take_probe(self, token: str, reset_timeout: float) -> Lease: ...

    @abstractmethod
    def release_probe(self, token: str) -> None: ...

    @abstractmethod
    def close(self, probe_token: str | None) -> str | None: ...

    @abstractmethod
    def hold(self, held: bool, note: str = "") -> None:
        """The operator's flag (while set, the breaker grants no probe), and what they said."""

    @abstractmethod
    def snapshot(self, reset_timeout: float) -> BreakerSnapshot: ...

    @abstractmethod
    def reset(self, note: str = "") -> None:
        """Forget everything stored: closed, nothing counted, as if new (but for the note)."""

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the state lives, for an operator: which processes share it."""


class MemoryBreakerStorage(BreakerStorage):
    """One process's state. The lock guards a few field updates, never a call."""

    def __init__(self, name: str = "supplier", clock: Callable[[], float] = time.time) -> None:
        super().__init__("memory")
        self.breaker_name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._stored = StoredState()

    @property
    def where(self) -> str:
        return "process memory: this process only"

    # ---------------------------------------------------------------- pybreaker's interface
    # Its increments are read-modify-write: with a thread per instance, they need the lock.

    @property
    def state(self) -> str:
        return self._stored.state

    @state.setter
    def state(self, state: str) -> None:
        with self._lock:
            self._stored.state = state

    def increment_counter(self) -> None:
        with self._lock:
            self._stored.failures += 1

    def reset_counter(self) -> None:
        with self._lock:
            self._stored.failures = 0

    def increment_success_counter(self) -> None:
        with self._lock:
            self._stored.successes += 1

    def reset_success_counter(self) -> None:
        with self._lock:
            self._stored.successes = 0

    @property
    def counter(self) -> int:
        return self._stored.failures

    @property
    def success_counter(self) -> int:
        return self._stored.successes

    @property
    def opened_at(self) -> datetime | None:
        opened = self._stored.opened_at
        return None if opened is None else datetime.fromtimestamp(opened, UTC)

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        with self._lock:
            self._stored.opened_at = when.timestamp()

    # ---------------------------------------------------------------- the atomic transitions

    def trip(self, probe_token: str | None) -> str | None:
        with self._lock:
            return self._stored.trip(probe_token, self._clock())

    def take_probe(self, token: str, reset_timeout: float) -> Lease:
        with self._lock:
            return self._stored.take_probe(token, reset_timeout, self._clock())

    def release_probe(self, token: str) -> None:
        with self._lock:
            self._stored.release_probe(token)

    def close(self, probe_token: str | None) -> str | None:
        with self._lock:
            return self._stored.close(probe_token, self._clock())

    def hold(self, held: bool, note: str = "") -> None:
        with self._lock:
            self._stored.held, self._stored.note = held, note

    def snapshot(self, reset_timeout: float) -> BreakerSnapshot:
        with self._lock:
            return self._stored.snapshot(self.breaker_name, reset_timeout, self._clock())

    def reset(self, note: str = "") -> None:
        with self._lock:
            self._stored = StoredState(note=note)


# Shared by the scripts below. Timestamps come from Redis's clock (TIME), so that hosts whose
# clocks disagree still agree on when the breaker opened. The state hash holds pybreaker's
# state and counters plus opened_at and the operator's hold; the probe key expires by itself.
_LUA_PRELUDE = """
local state_key, probe_key = KEYS[1], KEYS[2]
local function now()
  local t = redis.call('TIME')
  return t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
"""
# ARGV: probe token or ''. -> the state left, or nil when this caller made no transition.
_LUA_TRIP = """
local s = redis.call('HMGET', state_key, 'state', 'held')
local from = s[1] or 'closed'
if ARGV[1] ~= '' then
  if redis.call('GET', probe_key) ~= ARGV[1] then return false end
elseif from ~= 'closed' and s[2] ~= '1' then
  return false
end
redis.call('HSET', state_key, 'state', 'open', 'opened_at', now(), 'successes', 0)
redis.call('DEL', probe_key)
if from == 'open' then return false end
return from
"""
# ARGV: token, reset_ms. -> {'closed'} | {'refused', wait_ms} | {'probe', state left}
_LUA_TAKE_PROBE = """
local s = redis.call('HMGET', state_key, 'state', 'opened_at', 'held')
local state, reset_ms = s[1] or 'closed', tonumber(ARGV[2])
if state == 'closed' then return {'closed'} end
if s[3] == '1' then return {'refused', reset_ms} end
if state == 'open' then
  local wait_ms = math.ceil((tonumber(s[2] or '0') - tonumber(now())) * 1000) + reset_ms
  if wait_ms > 0 then return {'refused', wait_ms} end
end
if not redis.call('SET', probe_key, ARGV[1], 'NX', 'PX', reset_ms) then
  return {'refused', math.max(redis.call('PTTL', probe_key), 1)}
end
if state ~= 'open' then return {'probe', ''} end
redis.call('HSET', state_key, 'state', 'half-open', 'successes', 0)
return {'probe', 'open'}
"""
# ARGV: token.
_LUA_RELEASE_PROBE = """
if redis.call('GET', probe_key) == ARGV[1] then redis.call('DEL', probe_key) end
return false
"""
# ARGV: probe token, or '' for an operator. -> the state left, or nil.
_LUA_CLOSE = """
if ARGV[1] ~= '' and redis.call('GET', probe_key) ~= ARGV[1] then return false end
local from = redis.call('HGET', state_key, 'state') or 'closed'
redis.call('HSET', state_key, 'state', 'closed', 'failures', 0, 'successes', 0)
redis.call('HDEL', state_key, 'opened_at')
redis.call('DEL', probe_key)
if from == 'closed' then return false end
return from
"""
# -> {state, opened_at, held, failures, now, probe_pttl_ms, note}
_LUA_SNAPSHOT = """
local s = redis.call('HMGET', state_key, 'state', 'opened_at', 'held', 'failures', 'note')
local pttl = redis.call('PTTL', probe_key)
return {s[1] or 'closed', s[2] or '', s[3] or '0', s[4] or '0', now(), pttl, s[5] or ''}
"""


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class RedisBreakerStorage(BreakerStorage):
    """State shared by every process through Redis: each operation one command or one script.

    Keys: ``<prefix>:<name>:state`` (hash: state, failures, successes, opened_at, held, note) and
    ``<prefix>:<name>:probe`` (the probe's holder, expiring after the reset timeout so that a
    probe lost with its process frees the way for another). pybreaker's own
    ``CircuitRedisStorage`` makes several round trips per decision and dates by the client.

    While Redis cannot be reached every operation fails open (the breaker acts closed and counts
    nothing), and after a failure the storage tries Redis again only once a second
    (``Unreachable``), so a hung Redis costs one socket timeout per second, not one per call.
    ``hold`` and ``reset`` are operators' commands: they raise instead.
    """

    def __init__(
        self,
        client: redis.Redis,
        key_prefix: str,
        name: str = "supplier",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("redis")
        self.breaker_name = name
        address = client.connection_pool.connection_kwargs
        self._where = (
            f"Redis {address.get('host', '?')}:{address.get('port', '?')} "
            f"db {address.get('db', 0)}, key {key_prefix}:{name}: every process using it"
        )
        base = f"{key_prefix}:{name}"
        self._keys = [f"{base}:state", f"{base}:probe"]
        self._redis = client
        self._failing_open = FailOpen(name, (redis.RedisError,), clock=clock)
        self._trip = client.register_script(_LUA_PRELUDE + _LUA_TRIP)
        self._take_probe = client.register_script(_LUA_PRELUDE + _LUA_TAKE_PROBE)
        self._release_probe = client.register_script(_LUA_PRELUDE + _LUA_RELEASE_PROBE)
        self._close = client.register_script(_LUA_PRELUDE + _LUA_CLOSE)
        self._snapshot = client.register_script(_LUA_PRELUDE + _LUA_SNAPSHOT)

    @property
    def where(self) -> str:
        return self._where

    def _field(self, field: str) -> bytes | None:
        return cast(bytes | None, self._redis.hget(self._keys[0], field))

    def _set(self, field: str, value: object) -> None:
        self._failing_open(None, lambda: self._redis.hset(self._keys[0], field, str(value)))

    # ---------------------------------------------------------------- pybreaker's interface

    @property
    def state(self) -> str:
        raw = self._failing_open(None, lambda: self._field("state"))
        return pybreaker.STATE_CLOSED if raw is None else _text(raw)

    @state.setter
    def state(self, state: str) -> None:
        self._set("state", state)

    def increment_counter(self) -> None:
        self._failing_open(None, lambda: self._redis.hincrby(self._keys[0], "failures", 1))

    def reset_counter(self) -> None:
        self._set("failures", 0)

    def increment_success_counter(self) -> None:
        self._failing_open(None, lambda: self._redis.hincrby(self._keys[0], "successes", 1))

    def reset_success_counter(self) -> None:
        self._set("successes", 0)

    @property
    def counter(self) -> int:
        return int(self._failing_open(None, lambda: self._field("failures")) or 0)

    @property
    def success_counter(self) -> int:
        return int(self._failing_open(None, lambda: self._field("successes")) or 0)

    @property
    def opened_at(self) -> datetime | None:
        raw = self._failing_open(None, lambda: self._field("opened_at"))
        return None if raw is None else datetime.fromtimestamp(float(raw), UTC)

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        self._set("opened_at", when.timestamp())

    # ---------------------------------------------------------------- the atomic transitions

    def trip(self, probe_token: str | None) -> str | None:
        left = self._failing_open(None, lambda: self._trip(self._keys, [probe_token or ""]))
        return None if left is None else _text(left)

    def take_probe(self, token: str, reset_timeout: float) -> Lease:
        reset_ms = max(1, round(reset_timeout * 1000))
        reply = self._failing_open(None, lambda: self._take_probe(self._keys, [token, reset_ms]))
        if reply is None or _text(reply[0]) == "closed":
            return Lease()
        if _text(reply[0]) == "refused":
            return Lease(retry_after=int(_text(reply[1])) / 1000)
        return Lease(token=token, left_open=_text(reply[1]) == pybreaker.STATE_OPEN)

    def release_probe(self, token: str) -> None:
        self._failing_open(None, lambda: self._release_probe(self._keys, [token]))

    def close(self, probe_token: str | None) -> str | None:
        left = self._failing_open(None, lambda: self._close(self._keys, [probe_token or ""]))
        return None if left is None else _text(left)

    def hold(self, held: bool, note: str = "") -> None:
        self._redis.hset(self._keys[0], mapping={"held": "1" if held else "0", "note": note})

    def snapshot(self, reset_timeout: float) -> BreakerSnapshot:
        reply = self._failing_open(None, lambda: self._snapshot(self._keys))
        if reply is None:
            # Fail open, as every decision does: with its state unreadable the breaker lets
            # calls through, so that is what it reports (and /readyz stays ready).
            return BreakerSnapshot(self.breaker_name, "closed", 0, None, None, unknown=True)
        state, opened, held, failures, now, pttl, note = map(_text, reply)
        return _snapshot(
            self.breaker_name, reset_timeout, state, int(failures),
            float(opened) if opened else None, held == "1", float(now), int(pttl) / 1000, note,
        )  # fmt: skip

    def reset(self, note: str = "") -> None:
        pipeline = self._redis.pipeline()  # one transaction: MULTI, DEL, HSET, EXEC
        pipeline.delete(*self._keys)
        if note:
            pipeline.hset(self._keys[0], "note", note)
        pipeline.execute()
