"""Sticky canary routing and shadow sampling: a routing key's fixed bucket, compared with the
route's percentage or sample.

Each key hashes, with the route's salt, to one of 10,000 buckets (0.01 % each). A key takes the
new side when its bucket is below the canary's basis points, so at a given percentage a key
always takes the same side, and raising the percentage only ever moves keys from legacy to new
(lowering it moves them back, in the reverse order). The salt is per route: the first 1 % of
one route is not the first 1 % of every route. BLAKE2b is fast, stable across processes and
Python versions (unlike ``hash()``), and uniform enough that the share on new is within a
fraction of a point of the percentage (tests/unit/strangler/test_hashing.py).

A shadow's sample uses the same bucket: at a sample of N %, the keys whose requests run the
candidate are the keys a canary of N % sends to new, every time (so the same orders are
compared again after a fix, and a canary up to the sample serves only keys already compared).
A request without a key is sampled by a random draw at the same rate.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from strangler.modes import FULL


def bucket(salt: str, key: str) -> int:
    """The key's bucket, 0 to 9,999, for this salt."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "big") % FULL


def takes_new(salt: str, key: str, basis_points: int) -> bool:
    """True when this key goes to the new handler at a canary of ``basis_points``."""
    return bucket(salt, key) < basis_points


def sampled(
    salt: str,
    key: str | None,
    sample_points: int,
    *,
    draw: Callable[[int], int] = random.randrange,
) -> bool:
    """True when this request's candidate runs at a shadow sample of ``sample_points``."""
    if sample_points >= FULL:
        return True
    if key is None:
        return draw(FULL) < sample_points
    return bucket(salt, key) < sample_points
