"""OrderManager on in-memory fakes: what runs on its injected collaborators alone, and what
still goes to the database by itself (no database and no network is ever opened here)."""

from __future__ import annotations

import socket

import pytest

from bench.fight.injection import Reached, run_on_fakes, sealed
from monolithos.models import Order

ON_FAKES = ["validate", "price", "track_order", "sales_report", "low_stock_report"]


@pytest.fixture(scope="module")
def injection():
    return run_on_fakes()


def test_the_constructor_takes_a_fake_for_each_collaborator(injection):
    assert injection.collaborators == ("notifications", "repo", "logistics")


def test_the_reads_run_on_the_fakes_alone_and_answer_from_them(injection):
    answers = {run.name: run.answer for run in injection.on_fakes()}

    assert list(answers) == ON_FAKES
    assert answers["validate"] == "2 lines checked against the fake catalogue"
    assert answers["price"] == "total EUR 31.84 with WELCOME10"
    assert answers["track_order"] == "shipment dispatched, the supplier says accepted"
    assert answers["sales_report"] == "2 days, 4 units"
    assert answers["low_stock_report"] == "2 products low, 2 quoted by the fake supplier"


def test_the_writes_still_open_the_database_themselves_and_nothing_opens_a_socket(injection):
    reached = {run.name: run.reach for run in injection.reached("database")}

    assert sorted(reached) == ["cancel_order", "place_order", "render_invoice", "ship_order"]
    assert reached["place_order"].where.startswith("monolithos/order_manager.py:")
    assert reached["place_order"].code == "with transaction.atomic():"
    assert reached["ship_order"].where.startswith("monolithos/shipping_columns.py:")
    assert reached["render_invoice"].where.startswith("monolithos/invoicing.py:")
    assert injection.reached("network") == []
    assert injection.broken() == []


def test_sealed_code_cannot_query_or_connect_and_each_attempt_is_recorded():
    with sealed() as reaches:
        with pytest.raises(Reached):
            Order.objects.count()
        with pytest.raises(Reached):
            socket.create_connection(("127.0.0.1", 9), timeout=0.1)

    assert [reach.kind for reach in reaches] == ["database", "network"]
    # Only the project's own code is located: a test's (or the benchmark's) frames are the caller's.
    assert {reach.where for reach in reaches} == {"outside the project"}
