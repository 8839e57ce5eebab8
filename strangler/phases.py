"""The data ownership phases: plain Python, no Django.

The strangler moves traffic route by route; the data behind the routes moves too, in four
phases, kept as one value beside the route modes (stored, versioned and announced with them):

- ``legacy``: the legacy copy (the order's shipping columns) is the truth; the new owner is
  written (events, backfill) but nothing legacy reads it;
- ``verify``: reads still come from the legacy copy, and each is also answered by the new owner
  and compared;
- ``logistics``: reads come from the new owner; the legacy copy is still written, so going back
  to ``verify`` is instant and loses nothing;
- ``contract``: the legacy copy is neither written nor read, and may be dropped.

What a phase means for the data (which database answers a read, whether the copy is written) is
not said here: the database router says it (``config.routers``); the strangler knows phases as
it knows routes, by name. The kill switch moves routes, not data: stepping the phase back is the
data's rollback.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    LEGACY = "legacy"
    VERIFY = "verify"
    LOGISTICS = "logistics"
    CONTRACT = "contract"


PHASES: tuple[Phase, ...] = tuple(Phase)


class UnknownPhase(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(
            f"unknown phase {text!r} (phases, in order: {', '.join(p.value for p in PHASES)})"
        )


def parse_phase(text: str) -> Phase:
    try:
        return Phase(str(text).strip())
    except ValueError:
        raise UnknownPhase(str(text)) from None


def position(phase: Phase) -> int:
    return PHASES.index(phase)


def next_phase(phase: Phase) -> Phase | None:
    """The phase after ``phase``; None after the last."""
    index = position(phase) + 1
    return PHASES[index] if index < len(PHASES) else None


def previous_phase(phase: Phase) -> Phase | None:
    """The phase before ``phase``; None before the first."""
    index = position(phase) - 1
    return PHASES[index] if index >= 0 else None


def steps_between(current: Phase, target: Phase) -> int:
    """How many phases ``target`` lies ahead of ``current`` (negative: behind)."""
    return position(target) - position(current)
