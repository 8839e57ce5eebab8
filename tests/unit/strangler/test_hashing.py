"""The sticky hash: a key keeps its side, growing percentages only add keys, shares are exact."""

from __future__ import annotations

import itertools

import pytest

from strangler.hashing import bucket, sampled, takes_new
from strangler.modes import FULL

KEYS = [f"customer{n}@example.com" for n in range(100_000)]


def share_on_new(salt: str, basis_points: int, keys: list[str] = KEYS) -> float:
    return 100 * sum(takes_new(salt, key, basis_points) for key in keys) / len(keys)


def test_the_same_key_always_takes_the_same_side_at_a_given_percentage():
    sides = {key: takes_new("route-salt", key, 2_500) for key in KEYS[:1000]}

    assert all(takes_new("route-salt", key, 2_500) == side for key, side in sides.items())
    assert bucket("route-salt", "ada@example.com") == bucket("route-salt", "ada@example.com")


def test_raising_the_percentage_only_moves_keys_from_legacy_to_new():
    steps = [0, 1, 100, 1_000, 2_500, 5_000, 9_999, FULL]
    on_new = [{key for key in KEYS[:20_000] if takes_new("s", key, points)} for points in steps]

    for smaller, larger in itertools.pairwise(on_new):
        assert smaller <= larger  # nobody goes back to legacy as the canary grows
    assert on_new[0] == set()
    assert len(on_new[-1]) == 20_000


@pytest.mark.parametrize("basis_points", [1, 100, 1_000, 5_000, 9_000])
def test_the_share_on_new_is_within_one_point_of_the_percentage(basis_points):
    share = share_on_new("api_place_order-salt", basis_points)

    assert abs(share - basis_points / 100) <= 1.0


def test_each_route_has_its_own_first_percent():
    first_here = {key for key in KEYS[:20_000] if takes_new("salt-a", key, 100)}
    first_there = {key for key in KEYS[:20_000] if takes_new("salt-b", key, 100)}

    assert first_here and first_there
    assert len(first_here & first_there) < len(first_here) / 2


def test_buckets_span_the_whole_range_in_hundredths_of_a_percent():
    buckets = {bucket("s", key) for key in KEYS}

    assert min(buckets) == 0 and max(buckets) == FULL - 1


# ---------------------------------------------------------------------- the shadow's sample


def share_sampled(salt: str, sample_points: int, keys: list[str] = KEYS) -> float:
    return 100 * sum(sampled(salt, key, sample_points) for key in keys) / len(keys)


@pytest.mark.parametrize("sample_points", [100, 1_000, 5_000])
def test_the_share_of_keys_sampled_is_within_one_point_of_the_sample(sample_points):
    share = share_sampled("api_track_order-salt", sample_points)

    assert abs(share - sample_points / 100) <= 1.0


def test_a_key_is_sampled_every_time_or_never_at_a_given_sample():
    first = {key: sampled("s", key, 1_000) for key in KEYS[:2000]}

    assert all(sampled("s", key, 1_000) == chosen for key, chosen in first.items())
    assert 0 < sum(first.values()) < 2000


def test_the_keys_sampled_at_n_percent_are_the_keys_a_canary_of_n_percent_sends_to_new():
    keys = KEYS[:20_000]

    assert {k for k in keys if sampled("s", k, 1_000)} == {
        k for k in keys if takes_new("s", k, 1_000)
    }


def test_a_full_sample_takes_every_request_and_a_keyless_one_is_drawn_at_random():
    def never(bound: int) -> int:
        raise AssertionError("a full sample draws nothing")

    assert all(sampled("s", key, FULL, draw=never) for key in KEYS[:100])
    assert sampled("s", None, FULL, draw=never)
    assert sampled("s", None, 1_000, draw=lambda bound: 999)
    assert not sampled("s", None, 1_000, draw=lambda bound: 1_000)
