"""A system check that the release and the orders table agree on the shipping columns.

A release built with the columns (``SHIPPING_COLUMNS_DROPPED`` unset) reads and writes them on
every order query; run against a database where the contract's migration has dropped them, it
would fail every request. The check runs where Django runs database checks (``migrate``,
``check --database default``), so that the release step stops before the release serves.
The reverse (the contract's release while the columns still exist) is the release order the
runbook prescribes, not an error. docs/runbook.md Phase 6.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import connections
from django.db.utils import DatabaseError

from monolithos.shipping_columns import SHIPPING_COLUMNS


@register(Tags.database)
def shipping_columns_match_the_release(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.SHIPPING_COLUMNS_DROPPED or not databases or "default" not in databases:
        return []
    from monolithos.models import Order

    connection = connections["default"]
    table = Order._meta.db_table
    try:
        with connection.cursor() as cursor:
            if table not in connection.introspection.table_names(cursor):
                return []  # not migrated yet: migrate creates it with the columns
            present = {
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
            }
    except DatabaseError:
        return []  # an unreachable database is another check's business
    missing = [column for column in SHIPPING_COLUMNS if column not in present]
    if not missing:
        return []
    return [
        Error(
            f"{table} has no {', '.join(missing)}: the contract's migration dropped the shipping "
            "columns, and this release reads them (SHIPPING_COLUMNS_DROPPED is not set)",
            hint="deploy with SHIPPING_COLUMNS_DROPPED=true, or reverse the drop first: "
            "SHIPPING_COLUMNS_DROPPED=true manage.py migrate monolithos_shipping_contract zero",
            id="monolithos.E001",
        )
    ]
