"""Database routing: which alias owns which app's tables.

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
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Model

LOGISTICS_ALIAS = "logistics"
REPLICA_ALIAS = "replica"
LOGISTICS_APPS = frozenset({"logistics"})
OUTBOX_MESSAGE = "outbox.outboxmessage"
OUTBOX_MESSAGE_ALIASES = frozenset({"default", LOGISTICS_ALIAS})


def alias_for_app(app_label: str) -> str:
    return LOGISTICS_ALIAS if app_label in LOGISTICS_APPS else "default"


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
        if owner == "default" and REPLICA_ALIAS in settings.DATABASES:
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
