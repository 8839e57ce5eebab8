"""``manage.py seed_demo`` creates the demo world once and is safe to run again."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from monolithos.models import Customer, Product

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_products_customers_and_a_demo_superuser():
    output = seed()

    assert Product.objects.count() == 10
    assert Customer.objects.count() == 3
    assert get_user_model().objects.get(username="admin").check_password("admin")
    assert "seed_demo: 14 object(s) created" in output


def test_seed_demo_twice_changes_nothing_and_keeps_edited_stock():
    seed()
    Product.objects.filter(sku="BOX-S").update(stock=1)

    output = seed()

    assert "seed_demo: 0 object(s) created" in output
    assert Product.objects.get(sku="BOX-S").stock == 1
    assert Product.objects.count() == 10


def test_seed_demo_creates_no_superuser_in_production(settings):
    settings.PRODUCTION = True

    output = seed()

    assert "no demo superuser" in output
    assert not get_user_model().objects.exists()
