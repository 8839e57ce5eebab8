"""Route modes and the state every process routes by: plain Python, no Django.

A route is in one of four modes. ``canary`` carries a share of routing keys sent to the new
handler, in basis points (0.01 % steps, 0 to 10,000); ``shadow`` carries the sample, the share
of routing keys whose requests run the candidate (100 % unless set lower). The kill switch
overrides every mode without changing it, so lifting it restores the modes as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from strangler.phases import Phase

FULL = 10_000
"""Basis points in 100 %."""


class Mode(StrEnum):
    LEGACY = "legacy"
    SHADOW = "shadow"
    CANARY = "canary"
    NEW = "new"


class Side(StrEnum):
    """Which handler answered a request."""

    LEGACY = "legacy"
    NEW = "new"


class InvalidPercent(ValueError):
    """A percentage (a canary's share, a shadow's sample) outside 0 to 100 or finer than 0.01."""


def parse_percent(text: str | Decimal | int | float) -> int:
    """A percentage as basis points: ``"12.34"`` -> 1234. Raises InvalidPercent."""
    try:
        value = Decimal(str(text).strip().removesuffix("%").strip())
    except InvalidOperation:
        raise InvalidPercent(f"percent must be a number from 0 to 100, not {text!r}") from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise InvalidPercent(f"percent must be from 0 to 100, not {text}")
    points = value * 100
    if points != points.to_integral_value():
        raise InvalidPercent(f"percent moves in 0.01 steps: {text} is finer than that")
    return int(points)


def format_percent(basis_points: int) -> str:
    return f"{Decimal(basis_points) / 100:.2f}"


def describe(mode: str, basis_points: int = 0, sample_points: int = FULL) -> str:
    """A mode as people read it: ``canary 12.50 %``, ``shadow, sample 10.00 %``, ``new``."""
    if mode == Mode.CANARY:
        return f"canary {format_percent(basis_points)} %"
    if mode == Mode.SHADOW and sample_points != FULL:
        return f"shadow, sample {format_percent(sample_points)} %"
    return str(mode)


@dataclass(frozen=True)
class RouteState:
    """One route's configured mode; ``basis_points`` is the canary's share of keys,
    ``sample_points`` the shadow's sample (both in basis points)."""

    mode: Mode = Mode.LEGACY
    basis_points: int = 0
    salt: str = ""
    sample_points: int = FULL


LEGACY_ONLY = RouteState()


@dataclass(frozen=True)
class Snapshot:
    """Everything the facade routes by, as one immutable value of a given version, and the
    data ownership phase (``strangler.phases``), which the database router reads."""

    version: int = 0
    killed: bool = False
    routes: Mapping[str, RouteState] = field(default_factory=dict)
    phase: Phase = Phase.LEGACY

    def configured(self, route: str) -> RouteState:
        """The route's mode as set, whatever the kill switch says (legacy when never set)."""
        return self.routes.get(route, LEGACY_ONLY)

    def effective(self, route: str) -> RouteState:
        """The mode requests are routed by: legacy while the kill switch is engaged."""
        state = self.configured(route)
        if self.killed:
            return RouteState(Mode.LEGACY, 0, state.salt)
        return state
