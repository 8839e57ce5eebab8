"""Database routing: which alias owns which app's tables.

The ``logistics`` alias belongs to the logistics bounded context alone; every other app
(the legacy monolith, auth, admin, sessions) lives on ``default``. Each app migrates only on
the alias that owns it, so ``migrate --database logistics`` never creates legacy tables there.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

LOGISTICS_ALIAS = "logistics"
LOGISTICS_APPS = frozenset({"logistics"})


def alias_for_app(app_label: str) -> str:
    return LOGISTICS_ALIAS if app_label in LOGISTICS_APPS else "default"


class OwnershipRouter:
    """Routes each model to the alias that owns its app."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return alias_for_app(model._meta.app_label)

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return alias_for_app(model._meta.app_label)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return alias_for_app(obj1._meta.app_label) == alias_for_app(obj2._meta.app_label)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        return db == alias_for_app(app_label)
