"""The supplier's circuit breaker: a failure-rate window, one probe at a time, no lock on the call.

In the manner of Resilience4j: the last ``window_size`` outcomes decide (once ``minimum_calls``
are in) whether the failure rate has reached the threshold; slow successes count as failures.
Open, it refuses at once with ``CircuitOpen.retry_after``; after ``reset_timeout_seconds`` one
caller, in all processes together, gets a probe permit whose outcome closes or reopens it. The
guarded call runs outside every lock: ``acquire()`` hands out a ``Permit`` and the caller reports
the outcome on it. State lives in process memory or, shared by every process, in Redis (Lua
scripts make each decision atomic, Redis's clock dates it). Why not pybreaker: docs/adr/0006.
Imports no Django and nothing of the project, so any process (or a bare ``python -c``) can use it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

import redis
import structlog
from prometheus_client import Counter, Gauge

logger = structlog.get_logger(__name__)

State = Literal["closed", "open", "half_open"]
Outcome = Literal["success", "failure", "ignore"]
ForceTarget = Literal["open", "closed", "reset"]

BREAKER_STATE = Gauge(
    "monolithos_supplier_breaker_state",
    "Circuit breaker state as last seen by any process: 0 closed, 1 half-open, 2 open.",
    ["breaker"],
    multiprocess_mode="mostrecent",
)
BREAKER_TRANSITIONS = Counter(
    "monolithos_supplier_breaker_transitions",
    "Circuit breaker state changes, counted once by the process that made them.",
    ["breaker", "to_state"],
)
_GAUGE_VALUE: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class BreakerConfig:
    window_size: int = 20
    minimum_calls: int = 10
    failure_rate_threshold: float = 0.5
    slow_call_seconds: float = 2.0
    reset_timeout_seconds: float = 30.0
    name: str = "supplier"

    def __post_init__(self) -> None:
        # Checked here so that a bad setting stops the process at start-up, not at the first call.
        if not 1 <= self.minimum_calls <= self.window_size:
            raise ValueError("need 1 <= minimum_calls <= window_size")
        if not 0 < self.failure_rate_threshold <= 1:
            raise ValueError("failure_rate_threshold must be in (0, 1]")
        if self.slow_call_seconds <= 0 or self.reset_timeout_seconds <= 0:
            raise ValueError("slow_call_seconds and reset_timeout_seconds must be positive")

    @property
    def reset_timeout_ms(self) -> int:
        return max(1, round(self.reset_timeout_seconds * 1000))


class CircuitOpen(Exception):
    def __init__(self, breaker: str, retry_after: float) -> None:
        super().__init__(f"circuit breaker {breaker!r} is open, retry in {retry_after:.1f} s")
        self.breaker = breaker
        self.retry_after = retry_after


@dataclass(frozen=True)
class BreakerSnapshot:
    name: str
    state: State
    failure_rate: float  # failures / calls in the window; 0.0 when empty
    calls_in_window: int
    opened_at: float | None  # Unix time by the storage's clock
    seconds_until_probe: float | None  # None when closed or forced open
    forced: bool = False  # opened by an operator: no probe until force_close() or reset()
    # The shared state could not be read (Redis unreachable): calls go through, as when closed.
    unknown: bool = False


@dataclass(frozen=True)
class Transition:
    from_state: State
    to_state: State
    failure_rate: float  # of the window after the change (0.0 once closed: the window is cleared)


@dataclass(frozen=True)
class Admission:
    """A storage's answer to acquire: refused (retry_after set) or a permit of some kind."""

    state: State
    retry_after: float | None = None
    generation: int | None = None  # the closed period the permit belongs to
    probe_token: str | None = None
    transition: Transition | None = None


class BreakerStorage(Protocol):
    """Where the state lives. Each method is one atomic step; none may block on the call."""

    def acquire(self, config: BreakerConfig) -> Admission: ...

    def record(
        self, config: BreakerConfig, outcome: Outcome, generation: int | None, token: str | None
    ) -> Transition | None: ...

    def force(self, config: BreakerConfig, target: ForceTarget) -> Transition | None: ...

    def snapshot(self, config: BreakerConfig) -> BreakerSnapshot: ...


class Permit:
    """One call's right to proceed. Settle it once; later settlements are no-ops."""

    __slots__ = ("_breaker", "_settled", "generation", "probe_token")

    def __init__(self, breaker: CircuitBreaker, generation: int | None, token: str | None) -> None:
        self._breaker = breaker
        self._settled = False
        self.generation = generation
        self.probe_token = token

    @property
    def is_probe(self) -> bool:
        return self.probe_token is not None

    def success(self, duration_seconds: float) -> None:
        slow = duration_seconds > self._breaker.config.slow_call_seconds
        self._settle("failure" if slow else "success")

    def failure(self) -> None:
        self._settle("failure")

    def ignore(self) -> None:
        """The outcome says nothing about the supplier's health (a 4xx); a probe is released."""
        self._settle("ignore")

    def _settle(self, outcome: Outcome) -> None:
        if not self._settled:
            self._settled = True
            self._breaker._record(self, outcome)


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, storage: BreakerStorage) -> None:
        self.config = config
        self.storage = storage
        self._state_gauge = BREAKER_STATE.labels(config.name)

    def acquire(self) -> Permit:
        admission = self.storage.acquire(self.config)
        self._observe(admission.state, admission.transition)
        if admission.retry_after is not None:
            raise CircuitOpen(self.config.name, admission.retry_after)
        return Permit(self, admission.generation, admission.probe_token)

    @contextmanager
    def guard(self) -> Iterator[Permit]:
        """Acquire; record success (timed) on exit, failure on an exception. ``ignore()`` wins."""
        permit = self.acquire()
        started = time.perf_counter()
        try:
            yield permit
        except Exception:
            permit.failure()
            raise
        except BaseException:
            permit.ignore()  # interrupted or exiting: nothing learnt about the supplier
            raise
        permit.success(time.perf_counter() - started)

    def state(self) -> BreakerSnapshot:
        snapshot = self.storage.snapshot(self.config)
        self._observe(snapshot.state, None)
        return snapshot

    def force_open(self) -> None:
        """Open until an operator closes it: no probe, whatever the timeout."""
        self._force("open")

    def force_close(self) -> None:
        """Close now with a fresh window; a closed breaker keeps its window."""
        self._force("closed")

    def reset(self) -> None:
        """Forget everything stored: closed, empty window, as if new."""
        self._force("reset")

    def _force(self, target: ForceTarget) -> None:
        transition = self.storage.force(self.config, target)
        self._observe("open" if target == "open" else "closed", transition)

    def _record(self, permit: Permit, outcome: Outcome) -> None:
        if permit.generation is None and permit.probe_token is None:
            return  # granted while the storage was unreachable: nowhere to record it
        if outcome == "ignore" and permit.probe_token is None:
            return  # a closed-state call that teaches nothing: no storage round trip
        transition = self.storage.record(
            self.config, outcome, permit.generation, permit.probe_token
        )
        if transition is not None:
            self._observe(transition.to_state, transition)

    def _observe(self, state: State, transition: Transition | None) -> None:
        # Every process sets the gauge to what it sees (mostrecent wins across processes), but
        # only the process that made a transition logs and counts it, so each is counted once.
        self._state_gauge.set(_GAUGE_VALUE[state])
        if transition is not None:
            BREAKER_TRANSITIONS.labels(self.config.name, transition.to_state).inc()
            logger.warning(
                "circuit_breaker_state_changed",
                breaker=self.config.name,
                from_state=transition.from_state,
                to_state=transition.to_state,
                failure_rate=round(transition.failure_rate, 3),
            )


def _rate(failures: int, calls: int) -> float:
    return failures / calls if calls else 0.0


def _snapshot(
    config: BreakerConfig,
    state: State,
    failures: int,
    calls: int,
    opened_at: float | None,
    forced: bool,
    now: float,
    probe_left: float,
) -> BreakerSnapshot:
    until: float | None = None
    if state == "open" and not forced and opened_at is not None:
        until = max(0.0, opened_at + config.reset_timeout_seconds - now)
    elif state == "half_open":
        until = max(0.0, probe_left)  # 0: no probe in flight, the next caller gets it
    return BreakerSnapshot(
        config.name, state, _rate(failures, calls), calls, opened_at, until, forced
    )


class MemoryBreakerStorage:
    """One process's state. The lock guards a few field updates, never a call."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window: deque[bool] = deque()  # True: a failure
        self._state: State = "closed"
        self._forced = False
        self._opened_at: float | None = None
        self._generation = 0
        self._probe: tuple[str, float] | None = None  # token, expiry

    def acquire(self, config: BreakerConfig) -> Admission:
        with self._lock:
            if self._state == "closed":
                return Admission("closed", generation=self._generation)
            now = self._clock()
            if self._forced:
                return Admission("open", retry_after=config.reset_timeout_seconds)
            if self._state == "open" and self._opened_at is not None:
                wait = self._opened_at + config.reset_timeout_seconds - now
                if wait > 0:
                    return Admission("open", retry_after=wait)
            if self._probe is not None and self._probe[1] > now:
                return Admission("half_open", retry_after=self._probe[1] - now)
            token = secrets.token_hex(8)
            self._probe = (token, now + config.reset_timeout_seconds)
            transition = None
            if self._state == "open":
                self._state = "half_open"
                transition = Transition("open", "half_open", self._window_rate())
            return Admission("half_open", probe_token=token, transition=transition)

    def record(
        self, config: BreakerConfig, outcome: Outcome, generation: int | None, token: str | None
    ) -> Transition | None:
        with self._lock:
            now = self._clock()
            if token is not None:
                if self._probe is None or self._probe[0] != token:
                    return None  # expired and replaced, or an operator intervened
                expired = self._probe[1] <= now
                self._probe = None
                if expired or outcome == "ignore":
                    return None
                if outcome == "failure":
                    return self._open(now, forced=False)
                return self._close()
            if outcome == "ignore" or self._state != "closed" or generation != self._generation:
                return None  # a late answer from an earlier closed period
            self._window.append(outcome == "failure")
            while len(self._window) > config.window_size:
                self._window.popleft()
            calls = len(self._window)
            if (
                calls >= config.minimum_calls
                and self._window_rate() >= config.failure_rate_threshold
            ):
                return self._open(now, forced=False)
            return None

    def force(self, config: BreakerConfig, target: ForceTarget) -> Transition | None:
        with self._lock:
            if target == "open":
                was_open = self._state == "open"
                transition = self._open(self._clock(), forced=True)
                return None if was_open else transition
            if self._state != "closed":
                return self._close()
            if target == "reset":
                self._close()  # clears the window; no transition: it was closed already
            return None

    def snapshot(self, config: BreakerConfig) -> BreakerSnapshot:
        with self._lock:
            now = self._clock()
            probe_left = self._probe[1] - now if self._probe else 0.0
            failures, calls = sum(self._window), len(self._window)
            opened_at, forced = self._opened_at, self._forced
            return _snapshot(
                config, self._state, failures, calls, opened_at, forced, now, probe_left
            )

    def _window_rate(self) -> float:
        return _rate(sum(self._window), len(self._window))

    def _open(self, now: float, *, forced: bool) -> Transition:
        before = self._state
        self._state, self._opened_at, self._forced, self._probe = "open", now, forced, None
        return Transition(before, "open", self._window_rate())

    def _close(self) -> Transition:
        before = self._state
        self._state, self._opened_at, self._forced, self._probe = "closed", None, False, None
        self._window.clear()
        self._generation += 1
        return Transition(before, "closed", 0.0)


# Shared by the scripts below. Timestamps come from Redis's clock (TIME), so that hosts whose
# clocks disagree still agree on when the breaker opened; the window holds '1' per failure.
_LUA_PRELUDE = """
local state_key, window_key, probe_key = KEYS[1], KEYS[2], KEYS[3]
local function now()
  local t = redis.call('TIME')
  return t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
local function changed(from, to)
  local failures, outcomes = 0, redis.call('LRANGE', window_key, 0, -1)
  for _, outcome in ipairs(outcomes) do
    if outcome == '1' then failures = failures + 1 end
  end
  return {from, to, failures, #outcomes}
end
local function open(forced)
  redis.call('HSET', state_key, 'state', 'open', 'opened_at', now(), 'forced', forced)
  redis.call('DEL', probe_key)
end
local function close()
  redis.call('HSET', state_key, 'state', 'closed', 'forced', '0')
  redis.call('HDEL', state_key, 'opened_at')
  redis.call('HINCRBY', state_key, 'gen', 1)
  redis.call('DEL', window_key, probe_key)
end
"""
# ARGV: token, reset_ms. -> {'closed', gen} | {'reject', state, retry_ms}
# | {'probe', state_before, failures, calls}: SET NX PX grants one probe among all callers.
_LUA_ACQUIRE = """
local s = redis.call('HMGET', state_key, 'state', 'opened_at', 'forced', 'gen')
local state, reset_ms = s[1] or 'closed', tonumber(ARGV[2])
if state == 'closed' then return {'closed', s[4] or '0'} end
if s[3] == '1' then return {'reject', state, reset_ms} end
if state == 'open' then
  local wait_ms = math.ceil((tonumber(s[2]) - tonumber(now())) * 1000) + reset_ms
  if wait_ms > 0 then return {'reject', state, wait_ms} end
end
if not redis.call('SET', probe_key, ARGV[1], 'NX', 'PX', reset_ms) then
  return {'reject', state, math.max(redis.call('PTTL', probe_key), 1)}
end
redis.call('HSET', state_key, 'state', 'half_open')
local result = changed(state, 'half_open')
table.insert(result, 1, 'probe')
return result
"""
# ARGV: outcome, gen, token, window_size, minimum_calls, threshold. -> {} | a transition.
_LUA_RECORD = """
local outcome, token = ARGV[1], ARGV[3]
if token ~= '' then
  if redis.call('GET', probe_key) ~= token then return {} end
  redis.call('DEL', probe_key)
  if outcome == 'failure' then open('0') return changed('half_open', 'open') end
  if outcome == 'success' then close() return changed('half_open', 'closed') end
  return {}
end
local s = redis.call('HMGET', state_key, 'state', 'gen')
if (s[1] or 'closed') ~= 'closed' or (s[2] or '0') ~= ARGV[2] then return {} end
redis.call('LPUSH', window_key, outcome == 'failure' and '1' or '0')
redis.call('LTRIM', window_key, 0, tonumber(ARGV[4]) - 1)
local result = changed('closed', 'open')
if result[4] >= tonumber(ARGV[5]) and result[3] / result[4] >= tonumber(ARGV[6]) then
  open('0')
  return result
end
return {}
"""
# ARGV: 'open' | 'closed' | 'reset'. -> {} | a transition.
_LUA_FORCE = """
local from = redis.call('HGET', state_key, 'state') or 'closed'
if ARGV[1] == 'open' then
  open('1')
  if from == 'open' then return {} end
  return changed(from, 'open')
end
if from ~= 'closed' then
  close()
  return changed(from, 'closed')
end
if ARGV[1] == 'reset' then redis.call('DEL', state_key, window_key, probe_key) end
return {}
"""
# -> {state, opened_at, forced, failures, calls, now, probe_pttl_ms}
_LUA_SNAPSHOT = """
local s = redis.call('HMGET', state_key, 'state', 'opened_at', 'forced')
local c = changed(s[1] or 'closed', '')
return {c[1], s[2] or '', s[3] or '0', c[3], c[4], now(), redis.call('PTTL', probe_key)}
"""

_STATES: dict[str, State] = {"closed": "closed", "open": "open", "half_open": "half_open"}


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _transition(reply: list[object]) -> Transition | None:
    if not reply:
        return None
    failures, calls = int(_text(reply[2])), int(_text(reply[3]))
    return Transition(_STATES[_text(reply[0])], _STATES[_text(reply[1])], _rate(failures, calls))


class RedisBreakerStorage:
    """State shared by every process through Redis: one script call per decision.

    Keys: ``<prefix>:<name>:state`` (hash: state, opened_at, forced, gen), ``...:window`` (list,
    newest first, trimmed to window_size) and ``...:probe`` (the probe holder, expiring after
    reset_timeout so that a probe lost with its process frees the way for another).
    """

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self.key_prefix = key_prefix
        self._acquire = client.register_script(_LUA_PRELUDE + _LUA_ACQUIRE)
        self._record = client.register_script(_LUA_PRELUDE + _LUA_RECORD)
        self._force = client.register_script(_LUA_PRELUDE + _LUA_FORCE)
        self._snapshot = client.register_script(_LUA_PRELUDE + _LUA_SNAPSHOT)

    def keys(self, config: BreakerConfig) -> list[str]:
        base = f"{self.key_prefix}:{config.name}"
        return [f"{base}:state", f"{base}:window", f"{base}:probe"]

    def acquire(self, config: BreakerConfig) -> Admission:
        token = secrets.token_hex(8)
        try:
            reply = self._acquire(self.keys(config), [token, config.reset_timeout_ms])
        except redis.RedisError as error:
            # Fail open: an unreachable Redis must not stop every supplier call by itself.
            logger.warning(
                "circuit_breaker_storage_unavailable", breaker=config.name, error=str(error)
            )
            return Admission("closed")
        verdict = _text(reply[0])
        if verdict == "closed":
            return Admission("closed", generation=int(_text(reply[1])))
        if verdict == "reject":
            return Admission(_STATES[_text(reply[1])], retry_after=int(_text(reply[2])) / 1000)
        transition = _transition(reply[1:]) if _text(reply[1]) == "open" else None
        return Admission("half_open", probe_token=token, transition=transition)

    def record(
        self, config: BreakerConfig, outcome: Outcome, generation: int | None, token: str | None
    ) -> Transition | None:
        args = [
            outcome,
            "" if generation is None else generation,
            token or "",
            config.window_size,
            config.minimum_calls,
            repr(config.failure_rate_threshold),
        ]
        try:
            return _transition(self._record(self.keys(config), args))
        except redis.RedisError as error:
            logger.warning(
                "circuit_breaker_storage_unavailable", breaker=config.name, error=str(error)
            )
            return None

    def force(self, config: BreakerConfig, target: ForceTarget) -> Transition | None:
        return _transition(self._force(self.keys(config), [target]))

    def snapshot(self, config: BreakerConfig) -> BreakerSnapshot:
        try:
            reply = self._snapshot(self.keys(config))
        except redis.RedisError as error:
            # Fail open, as acquire does: with its state unreadable the breaker lets calls
            # through, so that is what it reports (and /readyz stays ready).
            logger.warning(
                "circuit_breaker_storage_unavailable", breaker=config.name, error=str(error)
            )
            return BreakerSnapshot(config.name, "closed", 0.0, 0, None, None, unknown=True)
        state, opened, forced, failures, calls, now, pttl = map(_text, reply)
        return _snapshot(
            config,
            _STATES[state],
            int(failures),
            int(calls),
            float(opened) if opened else None,
            forced == "1",
            float(now),
            int(pttl) / 1000,
        )


def build_breaker(
    config: BreakerConfig, redis_url: str | None, *, key_prefix: str = "monolithos:breaker"
) -> CircuitBreaker:
    """Shared state in Redis when a URL is given, this process's memory otherwise."""
    if not redis_url:
        return CircuitBreaker(config, MemoryBreakerStorage())
    # Short timeouts: a breaker that waits on a stuck Redis is the hang it exists to prevent.
    client = redis.Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
    return CircuitBreaker(config, RedisBreakerStorage(client, key_prefix))
