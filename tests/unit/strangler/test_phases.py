"""The data ownership phases in order, read as operators type them."""

from __future__ import annotations

import pytest

from strangler.phases import (
    PHASES,
    Phase,
    UnknownPhase,
    next_phase,
    parse_phase,
    previous_phase,
    steps_between,
)


def test_the_phases_run_from_legacy_to_contract():
    assert [phase.value for phase in PHASES] == ["legacy", "verify", "logistics", "contract"]
    assert [next_phase(phase) for phase in PHASES] == [*PHASES[1:], None]
    assert [previous_phase(phase) for phase in PHASES] == [None, *PHASES[:-1]]


@pytest.mark.parametrize(
    ("current", "target", "steps"),
    [
        (Phase.LEGACY, Phase.VERIFY, 1),
        (Phase.LEGACY, Phase.CONTRACT, 3),
        (Phase.CONTRACT, Phase.LOGISTICS, -1),
        (Phase.VERIFY, Phase.VERIFY, 0),
    ],
)
def test_steps_between_two_phases(current, target, steps):
    assert steps_between(current, target) == steps


def test_a_phase_is_parsed_from_its_name_and_an_unknown_one_is_named_with_the_known():
    assert parse_phase(" logistics ") is Phase.LOGISTICS
    with pytest.raises(UnknownPhase, match=r"unknown phase 'Verify' \(phases, in order: legacy, "):
        parse_phase("Verify")
