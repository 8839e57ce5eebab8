"""The two database aliases: both reachable, and each app's tables only on the alias it owns."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connections, router

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


@pytest.mark.django_db(databases=["default", "logistics"])
def test_a_query_joining_the_two_databases_is_refused():
    from logistics.models import ShipmentRecord

    legacy_numbers = Order.objects.values("number")

    # The subquery is compiled into the logistics database, where no legacy table exists.
    with pytest.raises(DatabaseError, match="monolithos_order"):
        list(ShipmentRecord.objects.filter(order_ref__in=legacy_numbers))


def test_no_relation_may_join_a_shipment_and_an_order():
    from logistics.models import ShipmentRecord

    assert router.allow_relation(Order(), ShipmentRecord()) is False
    assert router.allow_relation(Order(), Product()) is True


def test_logistics_tables_live_only_on_the_logistics_alias(django_db_blocker):
    with django_db_blocker.unblock():
        assert "logistics_shipment" in connections["logistics"].introspection.table_names()
        assert "logistics_shipment" not in connections["default"].introspection.table_names()


def test_legacy_reads_go_to_the_replica_when_one_is_configured(monkeypatch):
    from django.conf import settings

    from logistics.models import ShipmentRecord

    monkeypatch.setitem(settings.DATABASES, "replica", {})

    assert router.db_for_read(Order) == "replica"
    assert router.db_for_write(Order) == "default"
    assert router.db_for_read(ShipmentRecord) == "logistics"
    assert router.allow_migrate("replica", "monolithos") is False
