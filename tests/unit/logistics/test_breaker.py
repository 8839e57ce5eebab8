"""The circuit breaker's rule and state machine, in process memory with a hand-driven clock.

No database, no Redis, no sleeping: the clock only moves when a test moves it, and a call
"takes" as long as the test advances the clock inside it. A call in flight while others are
made is one running in a thread of its own, held until the test lets it answer.
"""

from __future__ import annotations

import random
import statistics
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from logistics.adapters.breaker import (
    BreakerConfig,
    CircuitOpen,
    SharedCircuitBreaker,
)
from logistics.adapters.breaker_storage import MemoryBreakerStorage


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SupplierDown(Exception):
    pass


class Rejected(Exception):
    """A 4xx: excluded, as the wiring excludes the supplier's."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def breaker_with(clock: ManualClock, **overrides: Any) -> SharedCircuitBreaker:
    """10 failures, slow 2 s, reset 30 s, and a name of its own."""
    config = replace(BreakerConfig(name=f"unit-{uuid.uuid4().hex[:8]}", fail_max=10), **overrides)
    storage = MemoryBreakerStorage(config.name, clock)
    return SharedCircuitBreaker(config, storage, exclude=[Rejected], timer=clock)


def answer(clock: ManualClock, outcome: str) -> Callable[[], str]:
    """'S' success, 'F' failure, 'L' a success taking 5 s, 'I' a 4xx."""

    def supplier() -> str:
        if outcome == "F":
            raise SupplierDown
        if outcome == "I":
            raise Rejected
        if outcome == "L":
            clock.advance(5)
        return "ok"

    return supplier


def feed(breaker: SharedCircuitBreaker, clock: ManualClock, outcomes: Iterable[str]) -> None:
    for outcome in outcomes:
        with suppress(SupplierDown, Rejected):
            breaker.call(answer(clock, outcome))


def trip(breaker: SharedCircuitBreaker, clock: ManualClock) -> None:
    feed(breaker, clock, "F" * breaker.config.fail_max)
    assert breaker.state().state == "open"


class Held:
    """A call made in another thread (another pybreaker instance), held until ``answer()``."""

    def __init__(self, breaker: SharedCircuitBreaker, clock: ManualClock, outcome: str) -> None:
        self._release, started = threading.Event(), threading.Event()

        def supplier() -> str:
            started.set()
            self._release.wait(timeout=10)
            return answer(clock, outcome)()

        self._pool = ThreadPoolExecutor(max_workers=1)
        self._future = self._pool.submit(breaker.call, supplier)
        started.wait(timeout=10)

    def answer(self) -> object:
        """What the caller got: the supplier's answer or the error raised to it."""
        self._release.set()
        try:
            return self._future.result(timeout=10)
        except Exception as error:
            return error
        finally:
            self._pool.shutdown()


def elsewhere(call: Callable[[], Any]) -> Any:
    """``call()`` in another thread (so with another pybreaker instance), its error returned."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(call).result(timeout=10)
        except Exception as error:
            return error


def test_opens_after_fail_max_consecutive_failures(clock):
    breaker = breaker_with(clock)

    feed(breaker, clock, "F" * 9)
    assert (breaker.state().state, breaker.state().failures) == ("closed", 9)

    feed(breaker, clock, "F")
    assert breaker.state().state == "open"


def test_a_success_starts_the_count_again(clock):
    breaker = breaker_with(clock)

    feed(breaker, clock, "F" * 9 + "S" + "F" * 9)
    assert (breaker.state().state, breaker.state().failures) == ("closed", 9)

    feed(breaker, clock, "F")
    assert breaker.state().state == "open"


def test_a_hard_outage_opens_within_fail_max_calls_whatever_came_before(clock):
    for fail_max in (5, 10):
        breaker = breaker_with(clock, fail_max=fail_max)
        feed(breaker, clock, ("F" * (fail_max - 1) + "S") * 50)  # as sick as it gets, closed

        calls = 0
        while breaker.state().state == "closed":
            feed(breaker, clock, "F")
            calls += 1

        assert calls == fail_max


def random_failures(count: int, seed: int, rate: float = 0.55) -> list[bool]:
    """supplier_sim's default chaos: 50 % answered 503, and 10 % of the rest hang past the
    read timeout."""
    rng = random.Random(seed)
    return [rng.random() < rate for _ in range(count)]


def trips(breaker: SharedCircuitBreaker, clock: ManualClock, failures: Iterable[bool]) -> int:
    """Trips from closed to open over the stream (open periods skipped, probes play through)."""
    count = 0
    for failed in failures:
        was_closed = breaker.state().state == "closed"
        try:
            feed(breaker, clock, "F" if failed else "S")
        except CircuitOpen as refusal:
            clock.advance(refusal.retry_after)
            feed(breaker, clock, "F" if failed else "S")
        count += was_closed and breaker.state().state == "open"
    return count


def test_twelve_consecutive_failures_ride_out_the_simulators_chaos_that_trips_five(clock):
    """At 55 % a run of 5 failures comes every 42 calls, a run of 12 every 2,900 (ADR 0017)."""
    streams = [random_failures(1000, seed) for seed in range(6)]

    five = [trips(breaker_with(clock, fail_max=5), clock, stream) for stream in streams]
    twelve = [trips(breaker_with(clock, fail_max=12), clock, stream) for stream in streams]

    assert statistics.mean(five) > 15
    assert statistics.mean(twelve) < 1
    assert BreakerConfig().fail_max == 12


def test_a_success_slower_than_slow_call_seconds_counts_as_a_failure_and_still_answers(clock):
    breaker = breaker_with(clock)

    def at_the_limit() -> str:
        clock.advance(2.0)
        return "ok"

    for _ in range(10):
        breaker.call(at_the_limit)  # not slow
    assert breaker.state().failures == 0

    answers = [breaker.call(answer(clock, "L")) for _ in range(10)]
    assert answers == ["ok"] * 10
    assert breaker.state().state == "open"


def test_an_excluded_error_counts_as_neither_success_nor_failure(clock):
    breaker = breaker_with(clock)

    feed(breaker, clock, "F" * 9 + "I" * 50)
    assert (breaker.state().state, breaker.state().failures) == ("closed", 9)
    with pytest.raises(Rejected):
        breaker.call(answer(clock, "I"))  # the caller still sees it

    feed(breaker, clock, "F")
    assert breaker.state().state == "open"


def test_an_interrupted_call_counts_as_nothing(clock):
    breaker = breaker_with(clock, fail_max=1)

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)

    assert (breaker.state().state, breaker.state().failures) == ("closed", 0)


def test_an_open_breaker_refuses_at_once_with_the_time_left(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(10)
    called = []

    with pytest.raises(CircuitOpen) as refusal:
        breaker.call(lambda: called.append(1))

    assert called == []
    assert refusal.value.retry_after == pytest.approx(20)
    assert breaker.state().seconds_until_probe == pytest.approx(20)


def test_a_breaker_opened_in_one_thread_refuses_in_the_others(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)

    refusals = [elsewhere(lambda: breaker.call(answer(clock, "S"))) for _ in range(3)]

    assert all(isinstance(refusal, CircuitOpen) for refusal in refusals)


def test_after_the_reset_timeout_exactly_one_probe_is_let_through(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(30)
    others: list[object] = []

    def probe() -> str:
        for _ in range(20):
            others.append(elsewhere(lambda: breaker.call(answer(clock, "S"))))
        assert breaker.state().state == "half_open"
        return "probed"

    assert breaker.call(probe) == "probed"
    assert len(others) == 20
    assert all(isinstance(other, CircuitOpen) for other in others)
    assert breaker.state().state == "closed"


def test_a_successful_probe_closes_and_counts_from_zero(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(30)

    feed(breaker, clock, "S")

    snapshot = breaker.state()
    assert (snapshot.state, snapshot.failures, snapshot.opened_at) == ("closed", 0, None)
    feed(breaker, clock, "F" * 9)
    assert breaker.state().state == "closed"


@pytest.mark.parametrize("probe_outcome", ["F", "L"])
def test_a_failed_or_slow_probe_reopens_for_another_reset_timeout(clock, probe_outcome):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(30)

    feed(breaker, clock, probe_outcome)

    snapshot = breaker.state()
    assert (snapshot.state, snapshot.opened_at) == ("open", clock.now)
    assert snapshot.seconds_until_probe == pytest.approx(30)


def test_a_probe_answered_with_an_excluded_error_hands_the_probe_to_the_next_caller(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(30)

    feed(breaker, clock, "I")
    assert breaker.state().state == "half_open"

    feed(breaker, clock, "S")  # the next caller, right away: the probe
    assert breaker.state().state == "closed"


def test_a_lost_probe_expires_after_the_reset_timeout_and_its_late_answer_is_ignored(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(30)
    lost = Held(breaker, clock, "F")
    clock.advance(29)
    with pytest.raises(CircuitOpen) as refusal:
        breaker.call(answer(clock, "S"))
    assert refusal.value.retry_after == pytest.approx(1)

    clock.advance(1)
    second = Held(breaker, clock, "S")
    assert isinstance(lost.answer(), SupplierDown)

    assert breaker.state().state == "half_open"
    assert second.answer() == "ok"
    assert breaker.state().state == "closed"


def test_a_late_success_of_a_lost_probe_does_not_close_either(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(30)
    lost = Held(breaker, clock, "S")
    clock.advance(30)

    assert lost.answer() == "ok"
    assert breaker.state().state == "half_open"


def test_failures_in_flight_when_it_opened_neither_reopen_it_nor_extend_the_open_period(clock):
    breaker = breaker_with(clock)
    in_flight = [Held(breaker, clock, "F") for _ in range(3)]
    with capture_logs() as logs:
        trip(breaker, clock)
        opened_at = breaker.state().opened_at
        clock.advance(10)
        answers = [call.answer() for call in in_flight]

    assert all(isinstance(error, SupplierDown) for error in answers)
    snapshot = breaker.state()
    assert (snapshot.state, snapshot.opened_at) == ("open", opened_at)
    assert snapshot.seconds_until_probe == pytest.approx(20)
    assert [entry["to_state"] for entry in logs if "to_state" in entry] == ["open"]


def test_each_transition_is_announced_once_however_many_threads_notice_it(clock):
    breaker = breaker_with(clock)
    name = breaker.config.name
    barrier = threading.Barrier(4)

    def call_once_all_four_exist() -> object:
        barrier.wait(timeout=10)  # so that each of the 4 threads calls through its own instance
        try:
            return breaker.call(answer(clock, "S"))
        except CircuitOpen as refusal:
            return refusal

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: call_once_all_four_exist(), range(4)))
        with capture_logs() as logs:
            trip(breaker, clock)
            refusals = list(pool.map(lambda _: call_once_all_four_exist(), range(4)))

    assert all(isinstance(refusal, CircuitOpen) for refusal in refusals)
    assert [entry["to_state"] for entry in logs if "to_state" in entry] == ["open"]
    labels = {"breaker": name, "to_state": "open"}
    assert REGISTRY.get_sample_value("monolithos_supplier_breaker_transitions_total", labels) == 1


def test_force_open_holds_past_the_reset_timeout_until_force_close(clock):
    breaker = breaker_with(clock)
    feed(breaker, clock, "FFF")

    breaker.force_open()
    clock.advance(3600)
    with pytest.raises(CircuitOpen):
        breaker.call(answer(clock, "S"))
    snapshot = breaker.state()
    assert (snapshot.state, snapshot.forced, snapshot.seconds_until_probe) == ("open", True, None)

    breaker.force_close()
    snapshot = breaker.state()
    assert (snapshot.state, snapshot.forced, snapshot.failures) == ("closed", False, 0)
    assert breaker.call(answer(clock, "S")) == "ok"


def test_force_open_during_a_probe_outlives_the_probes_answer(clock):
    breaker = breaker_with(clock)
    trip(breaker, clock)
    clock.advance(30)
    probe = Held(breaker, clock, "S")

    breaker.force_open()

    assert probe.answer() == "ok"
    assert (breaker.state().state, breaker.state().forced) == ("open", True)


def test_force_close_starts_the_count_again_and_reset_forgets_without_a_transition(clock):
    breaker = breaker_with(clock)
    feed(breaker, clock, "FFS" + "F" * 4)

    with capture_logs() as logs:
        breaker.force_close()  # closed already: no transition, but the count starts again
        assert breaker.state().failures == 0
        trip(breaker, clock)
        breaker.reset()

    assert (breaker.state().state, breaker.state().failures) == ("closed", 0)
    assert [entry["to_state"] for entry in logs if "to_state" in entry] == ["open"]


def test_transitions_are_logged_and_exported(clock):
    breaker = breaker_with(clock)
    name = breaker.config.name

    with capture_logs() as logs:
        trip(breaker, clock)
        clock.advance(30)
        feed(breaker, clock, "S")

    changes = [entry for entry in logs if entry["event"] == "circuit_breaker_state_changed"]
    assert changes == [
        {
            "event": "circuit_breaker_state_changed",
            "log_level": "warning",
            "breaker": name,
            "from_state": before,
            "to_state": after,
        }
        for before, after in [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    ]

    def transitions(to_state: str) -> float | None:
        labels = {"breaker": name, "to_state": to_state}
        return REGISTRY.get_sample_value("monolithos_supplier_breaker_transitions_total", labels)

    assert (transitions("open"), transitions("half_open"), transitions("closed")) == (1, 1, 1)
    state = REGISTRY.get_sample_value("monolithos_supplier_breaker_state", {"breaker": name})
    assert state == 0


def test_the_gauge_says_2_while_open_and_1_while_probing(clock):
    breaker = breaker_with(clock)
    name = breaker.config.name

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("monolithos_supplier_breaker_state", {"breaker": name})

    trip(breaker, clock)
    assert gauge() == 2
    clock.advance(30)
    assert breaker.call(gauge) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"fail_max": 0},
        {"reset_timeout_seconds": 0},
        {"slow_call_seconds": -1},
    ],
)
def test_a_config_that_could_never_work_is_refused_at_construction(fields):
    with pytest.raises(ValueError):
        BreakerConfig(**fields)
