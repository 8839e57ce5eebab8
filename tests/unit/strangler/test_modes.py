"""Percentages in 0.01 % steps, how modes are shown, and the kill switch overriding modes
without changing them."""

from __future__ import annotations

import pytest

from strangler.modes import (
    FULL,
    InvalidPercent,
    Mode,
    RouteState,
    Snapshot,
    describe,
    format_percent,
    parse_percent,
)


@pytest.mark.parametrize(
    ("text", "points"),
    [("0", 0), ("1", 100), ("12.34", 1234), ("0.01", 1), ("100", 10_000), ("50 %", 5000)],
)
def test_a_percentage_is_read_as_basis_points(text, points):
    assert parse_percent(text) == points
    assert format_percent(points) == f"{points / 100:.2f}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "from 0 to 100"),
        ("100.01", "from 0 to 100"),
        ("0.001", "0.01 steps"),
        ("ten", "must be a number"),
        ("nan", "from 0 to 100"),
        ("", "must be a number"),
    ],
)
def test_a_bad_percentage_says_what_is_wrong(text, message):
    with pytest.raises(InvalidPercent, match=message):
        parse_percent(text)


def test_the_kill_switch_routes_every_route_to_legacy_and_keeps_their_modes():
    routes = {"a": RouteState(Mode.NEW, 0, "s"), "b": RouteState(Mode.CANARY, 1000, "t")}
    killed = Snapshot(version=3, killed=True, routes=routes)

    assert killed.effective("a").mode is Mode.LEGACY
    assert killed.effective("b") == RouteState(Mode.LEGACY, 0, "t")
    assert killed.configured("b") == RouteState(Mode.CANARY, 1000, "t")
    assert Snapshot(version=4, routes=routes).effective("b").mode is Mode.CANARY


def test_a_route_never_set_is_legacy():
    assert Snapshot().effective("anything").mode is Mode.LEGACY


@pytest.mark.parametrize(
    ("mode", "points", "sample", "shown"),
    [
        ("canary", 1250, FULL, "canary 12.50 %"),
        ("shadow", 0, FULL, "shadow"),
        ("shadow", 0, 1000, "shadow, sample 10.00 %"),
        ("new", 0, FULL, "new"),
    ],
)
def test_a_mode_is_shown_with_its_canary_share_or_its_shadow_sample(mode, points, sample, shown):
    assert describe(mode, points, sample) == shown
