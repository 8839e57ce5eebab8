"""The two database aliases: both reachable, and each app's tables only on the alias it owns."""

from __future__ import annotations

import pytest
from django.db import connections, router

from monolithos.models import Order, Product


@pytest.mark.django_db(databases=["default", "logistics"])
def test_both_aliases_answer_queries():
    for alias in ("default", "logistics"):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)


def test_legacy_models_live_on_default():
    for model in (Order, Product):
        assert router.db_for_read(model) == "default"
        assert router.db_for_write(model) == "default"


@pytest.mark.parametrize(
    ("alias", "app_label", "allowed"),
    [
        ("default", "monolithos", True),
        ("logistics", "monolithos", False),
        ("logistics", "auth", False),
        ("logistics", "logistics", True),
        ("default", "logistics", False),
    ],
)
def test_each_app_migrates_only_on_the_alias_that_owns_it(alias, app_label, allowed):
    assert router.allow_migrate(alias, app_label) is allowed


@pytest.mark.django_db(databases=["default", "logistics"])
def test_the_logistics_database_holds_no_legacy_table():
    tables = connections["logistics"].introspection.table_names()

    assert not [table for table in tables if table.startswith(("monolithos_", "auth_"))]
    assert "monolithos_order" in connections["default"].introspection.table_names()
