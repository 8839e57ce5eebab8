"""The version key in Django's default cache: how a change reaches every process.

With CACHE_URL the cache is Redis, shared by every web and worker process, and fails open
(config/cache.py): while Redis is unreachable a read misses, and the state store falls back to
reloading from the database every STRANGLER_STATE_FALLBACK_SECONDS. A cache private to the
process (local memory, the embedded defaults) cannot tell other processes anything, so it is
not read at all and that fallback is the only path.
"""

from __future__ import annotations

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache

VERSION_KEY = "strangler:state-version"
# Longer than any process lives between two reads; a missing key only costs a fallback reload.
TIMEOUT_SECONDS = 7 * 24 * 3600


class CacheVersionBoard:
    @property
    def shared(self) -> bool:
        """Whether other processes read this cache."""
        return not isinstance(caches["default"], LocMemCache | DummyCache)

    def read(self) -> int | None:
        if not self.shared:
            return None
        value = cache.get(VERSION_KEY)
        return value if isinstance(value, int) else None

    def announce(self, version: int) -> bool:
        cache.set(VERSION_KEY, version, TIMEOUT_SECONDS)
        # The cache fails open: a write dropped while Redis is down reads back as something else.
        return not self.shared or cache.get(VERSION_KEY) == version

    def offer(self, version: int) -> None:
        if self.shared:
            cache.add(VERSION_KEY, version, TIMEOUT_SECONDS)
