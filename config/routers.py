"""Database routing: which alias owns which app's tables, and who owns the shipping data now.

The ``logistics`` alias belongs to the logistics bounded context alone; every other app
(the legacy monolith, auth, admin, sessions, tokens) lives on ``default``. Each app migrates
only on the alias that owns it, and no relation may join objects of two owners: a shipment
refers to its order by an opaque reference. When a ``replica`` alias is configured
(REPLICA_DATABASE_URL), reads of ``default``-owned models go there; writes never do.

One table is infrastructure on both aliases: the outbox's messages. A writer records the message
announcing its change in the transaction of that change, so each alias that publishes holds the
messages of its own writers (the shipment's events on ``logistics``, docs/adr/0021); the rest of
the outbox (deliveries in progress, failed tasks) lives on ``default``. The outbox asks this
router where its table is.

Tables never move, so Django's per-model routing (``OwnershipRouter``) knows no phase. What moves is
the shipping data: status, tracking number, supplier reference and dispatch time, held both in
the order's columns (``default``) and in the shipment (``logistics``). Which copy answers a
read, and whether the columns are still written, is the data ownership phase, kept by the
strangler beside the route modes; ``SHIPPING_OWNERSHIP`` says what each phase means, here and
nowhere else (docs/adr/0022). The legacy reads (``monolithos.shipping_data``) and the column
writer (``monolithos.shipping_columns``) ask ``shipping_ownership()``; a read on ``logistics``
goes through ``logistics.public``, never through an ORM query of ``Order`` on that alias.

This module reads the phase from the strangler's state (the in-process copy every process
routes by, so a change reaches every process within a second) and hands verify reads to the
strangler's publisher: the one way in to the strangler from the apps' side, and why its
import-linter contract names this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Model

LEGACY_ALIAS = "default"
LOGISTICS_ALIAS = "logistics"
REPLICA_ALIAS = "replica"
LOGISTICS_APPS = frozenset({"logistics"})
OUTBOX_MESSAGE = "outbox.outboxmessage"
OUTBOX_MESSAGE_ALIASES = frozenset({"default", LOGISTICS_ALIAS})


def alias_for_app(app_label: str) -> str:
    return LOGISTICS_ALIAS if app_label in LOGISTICS_APPS else LEGACY_ALIAS


def _loaded_from(model: type[Model], hints: dict[str, Any]) -> str | None:
    """For an outbox message read from one of its aliases, that alias: it stays there."""
    instance = hints.get("instance")
    if model._meta.label_lower != OUTBOX_MESSAGE or instance is None:
        return None
    alias: str | None = instance._state.db
    return alias if alias in OUTBOX_MESSAGE_ALIASES else None


class OwnershipRouter:
    """Routes each model to the alias that owns its app."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        owner = _loaded_from(model, hints) or alias_for_app(model._meta.app_label)
        if owner == LEGACY_ALIAS and REPLICA_ALIAS in settings.DATABASES:
            return REPLICA_ALIAS
        return owner

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return _loaded_from(model, hints) or alias_for_app(model._meta.app_label)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return alias_for_app(obj1._meta.app_label) == alias_for_app(obj2._meta.app_label)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        if f"{app_label}.{model_name}" == OUTBOX_MESSAGE:
            return db in OUTBOX_MESSAGE_ALIASES
        return db == alias_for_app(app_label)


# ---------------------------------------------------------------------- the shipping data


@dataclass(frozen=True)
class ShippingOwnership:
    """What the phase means for the shipping data.

    ``reads_from``: the alias whose copy answers a legacy read (``default``: the order's
    columns; ``logistics``: the shipment, through ``logistics.public``). ``verified``: each read
    of the columns is also answered from the shipment and compared. ``columns_written``: a
    shipment's change is still copied onto the order's columns.
    """

    phase: str
    reads_from: str
    verified: bool
    columns_written: bool

    @property
    def columns_read(self) -> bool:
        return self.reads_from == LEGACY_ALIAS


SHIPPING_OWNERSHIP: dict[str, ShippingOwnership] = {
    ownership.phase: ownership
    for ownership in (
        ShippingOwnership("legacy", LEGACY_ALIAS, verified=False, columns_written=True),
        ShippingOwnership("verify", LEGACY_ALIAS, verified=True, columns_written=True),
        ShippingOwnership("logistics", LOGISTICS_ALIAS, verified=False, columns_written=True),
        ShippingOwnership("contract", LOGISTICS_ALIAS, verified=False, columns_written=False),
    )
}
CONTRACT = SHIPPING_OWNERSHIP["contract"]


def shipping_columns_dropped() -> bool:
    """The contract's release (SHIPPING_COLUMNS_DROPPED): the Order model has no shipping
    columns, whatever the phase says."""
    return bool(settings.SHIPPING_COLUMNS_DROPPED)


def shipping_ownership() -> ShippingOwnership:
    """Who owns the shipping data in the phase this process routes by."""
    if shipping_columns_dropped():
        return CONTRACT
    from strangler import wiring

    return SHIPPING_OWNERSHIP[wiring.store().snapshot().phase.value]


def shipping_columns_written() -> bool:
    return shipping_ownership().columns_written


def report_shipping_verification(
    *,
    order_number: str,
    reader: str,
    columns: Mapping[str, Any],
    shipment: Mapping[str, Any] | None,
    error: str = "",
) -> str:
    """A verify read: what the columns said (and the reader answered) against what the shipment
    says, published as a shadow comparison is (stored when they differ, counted by the
    strangler's metrics). The result: match, mismatch or error."""
    from strangler import publisher

    return publisher.publish_verification(
        key=order_number, reader=reader, control=columns, candidate=shipment, error=error
    )
