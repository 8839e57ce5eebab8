"""A dependency that stopped answering is tried once per window, by one caller (injected clock)."""

from __future__ import annotations

from observability.dependencies import Unreachable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_dependency_that_answers_is_always_tried():
    state = Unreachable("broker", retry_after=1.0, clock=Clock())

    assert all(state.should_try() for _ in range(5))
    assert state.down_for() is None


def test_after_a_failure_callers_skip_it_until_the_window_passes_then_one_tries():
    clock = Clock()
    state = Unreachable("broker", retry_after=1.0, clock=clock)

    assert state.failed(ConnectionError("refused")) is True  # first failure: worth a log line
    assert [state.should_try() for _ in range(3)] == [False, False, False]
    clock.now += 0.99
    assert state.should_try() is False

    clock.now += 0.01
    assert [state.should_try() for _ in range(3)] == [True, False, False]  # one probe
    assert state.failed(TimeoutError("no answer")) is False  # still down: no new log line
    assert state.down_for() == 1.0
    assert state.last_error == "TimeoutError"


def test_one_success_opens_it_again_for_everyone():
    clock = Clock()
    state = Unreachable("cache", retry_after=1.0, clock=clock)
    state.failed(ConnectionError("refused"))
    clock.now += 1.0
    assert state.should_try()

    state.succeeded()

    assert all(state.should_try() for _ in range(3))
    assert state.down_for() is None and state.last_error == ""
