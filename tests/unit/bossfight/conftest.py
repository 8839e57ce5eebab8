"""A small source tree to measure: two packages, a cycle, an import past a public API."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# Names no installed package has: the probe imports the tree from its own directory.
FILES = {
    "fixture_shop/__init__.py": "",
    "fixture_shop/cart.py": "from fixture_shop import checkout\n",
    "fixture_shop/checkout.py": """\
        from fixture_shop.cart import checkout as _again
        from fixture_shipping.public import ship
        from fixture_shipping.carriers import cheapest
        """,
    "fixture_shop/migrations/__init__.py": "",
    "fixture_shop/migrations/0001_initial.py": "operations = []\n",
    "fixture_shop/till.py": """\
        import requests
        from django.db import transaction
        from django.core.mail import send_mail


        class Till:
            def __init__(self, drawer, printer=None):
                self.drawer = drawer

            def sell(self, order, items):
                with transaction.atomic():
                    for item in items:
                        if item.stock <= 0:
                            raise ValueError(item)
                        Item.objects.filter(pk=item.pk).update(stock=item.stock - 1)
                    order.save()
                requests.post("http://supplier/", json={})
                send_mail("sold", "", "", [])

            def total(self, items):
                return sum(item.price for item in items if item.price)
        """,
    "fixture_shipping/__init__.py": "",
    "fixture_shipping/public.py": "def ship():\n    pass\n",
    "fixture_shipping/carriers.py": "def cheapest():\n    pass\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path
