"""Sticky canary routing: a routing key's fixed bucket, compared with the route's percentage.

Each key hashes, with the route's salt, to one of 10,000 buckets (0.01 % each). A key takes the
new side when its bucket is below the canary's basis points, so at a given percentage a key
always takes the same side, and raising the percentage only ever moves keys from legacy to new
(lowering it moves them back, in the reverse order). The salt is per route: the first 1 % of
one route is not the first 1 % of every route. BLAKE2b is fast, stable across processes and
Python versions (unlike ``hash()``), and uniform enough that the share on new is within a
fraction of a point of the percentage (tests/unit/strangler/test_hashing.py).
"""

from __future__ import annotations

import hashlib

from strangler.modes import FULL


def bucket(salt: str, key: str) -> int:
    """The key's bucket, 0 to 9,999, for this salt."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "big") % FULL


def takes_new(salt: str, key: str, basis_points: int) -> bool:
    """True when this key goes to the new handler at a canary of ``basis_points``."""
    return bucket(salt, key) < basis_points
