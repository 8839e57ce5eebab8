"""The catalogue as the intake checks it: a copy in each process, stamped with a version.

``POST /api/v1/orders/`` checks an order against the catalogue before accepting it (unknown
SKU, stock on hand: ``placement.validate``), a read without a lock that the worker's guarded
stock update overrules anyway. ``intake_copy`` answers that read from the process's memory:
each SKU as last read from the database, valid while the catalogue's version in the shared
cache (CACHE_URL) is the one the copy is stamped with. ``changed`` gives the catalogue a new
version once the transaction that changed a product's stock or price commits (the repository's
stock updates, the admin, ``seed_demo``), so every process reads the database again on its
next request. A copy only ever lets an order through to its placement: the intake asks the
database itself before refusing one (``monolithos.intake.receive``), so a copy that missed a
change costs at most an order accepted and then rejected, as a lost race for the last units
always could (docs/adr/0025).

Without a shared cache each process's versions would be its own, so there is no copy: every
check is the database's. While the cache is unreachable (it fails open, ADR 0012) neither.
"""

from __future__ import annotations

import threading
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from monolithos.models import Product

VERSION_KEY = "catalogue:version"
# A catalogue larger than this is copied in part: the copy starts again when it is full.
MAX_COPIED_SKUS = 10_000


def changed() -> None:
    """The catalogue changed in the current transaction: a new version once it commits."""
    transaction.on_commit(_new_version)


def _new_version() -> None:
    # A new random version, not a counter: a cache that lost the key cannot bring an old one back.
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def current_version() -> str | None:
    """The catalogue's version in the shared cache (made on first use), None without one."""
    if not settings.CACHE_URL:
        return None
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    return None if version is None else str(version)


class CatalogueCopy:
    """The products of one catalogue version this process has read, by SKU (None: unknown)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._products: dict[str, Product | None] = {}

    def repo_for(self, version: str) -> CopiedCatalogue:
        with self._lock:
            if version != self._version or len(self._products) >= MAX_COPIED_SKUS:
                self._version = version
                self._products = {}
            return CopiedCatalogue(self._products)

    def forget(self) -> None:
        with self._lock:
            self._version = None
            self._products = {}


class CopiedCatalogue:
    """Product reads from a copy, filled from the database on a miss.

    The copy's dict belongs to one version: a new version gets a new dict, so a read that
    raced with it fills the old one, which nobody reads any more.
    """

    def __init__(self, products: dict[str, Product | None]) -> None:
        self._products = products

    def product_by_sku(self, sku: str) -> Product | None:
        try:
            return self._products[sku]
        except KeyError:
            product = Product.objects.filter(sku=sku).first()
            self._products[sku] = product
            return product


intake_copy_of_catalogue = CatalogueCopy()


def intake_copy() -> CopiedCatalogue:
    """What the intake checks an order against: the copy, or the database without one."""
    version = current_version()
    if version is None:
        return CopiedCatalogue({})  # a copy of this request only: every read is the database's
    return intake_copy_of_catalogue.repo_for(version)
