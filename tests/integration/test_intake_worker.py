"""ORDER_INTAKE_HAND_OVER=claimed: the request writes one row, the intake worker claims it.

The worker's loop runs ``until_idle`` in the test's thread, or in real threads with their own
connections for the concurrent claims (PostgreSQL's SKIP LOCKED; on SQLite the IMMEDIATE
transactions make the writers take turns, and the claim reads the status under that lock).
LISTEN/NOTIFY is PostgreSQL's, so the announcement test runs on the PostgreSQL run only (on
SQLite the worker polls). Nothing waits on a sleep: an announcement is counted, a thread is
joined.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, connections, transaction
from rest_framework.test import APIClient

from monolithos import intake, intake_worker, placement
from monolithos.announcements import Announcements
from monolithos.models import Order, OrderRequest, Product
from outbox import broker
from tests.factories import ProductFactory, ShopAccountFactory, api_client
from tests.integration.concurrency import WAIT_SECONDS, InThread

URL = "/api/v1/orders/"


@pytest.fixture
def claimed(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The claimed hand-over, and what would have been sent to the broker (nothing, it says)."""
    settings.ORDER_INTAKE_HAND_OVER = intake.CLAIMED
    sent: list[str] = []
    monkeypatch.setattr(broker, "send", lambda task, **options: sent.append(task))
    return sent


@pytest.fixture
def postgresql_only() -> None:
    """LISTEN/NOTIFY, which only PostgreSQL has (CI's PostgreSQL run); SQLite's worker polls."""
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite the intake worker polls")


@pytest.fixture
def api() -> APIClient:
    return api_client(ShopAccountFactory())


@pytest.fixture
def box() -> Product:
    product: Product = ProductFactory(sku="BOX-S", price="12.50", stock=100)
    return product


def accept(client: APIClient, count: int, quantity: int = 1) -> list[int]:
    ids = []
    for index in range(count):
        body = {
            "customer_name": "Ada Lovelace",
            "customer_email": f"ada{index}@example.com",
            "shipping_address": "12 Analytical Row\nLondon",
            "lines": [{"sku": "BOX-S", "quantity": quantity}],
        }
        response = client.post(URL, body, format="json")
        assert response.status_code == 202, response.json()
        ids.append(response.json()["id"])
    return ids


@pytest.mark.django_db(databases=["default", "logistics"])
@pytest.mark.usefixtures("box")
def test_the_request_sends_nothing_and_the_worker_places_it_in_batches(
    api: APIClient, claimed: list[str], settings: Any
) -> None:
    settings.INTAKE_WORKER_BATCH = 2
    ids = accept(api, 5)

    processed = intake_worker.work(stopping=threading.Event(), until_idle=True)

    assert claimed == []
    assert processed == 5
    statuses = OrderRequest.objects.filter(pk__in=ids).values_list("status", flat=True)
    assert set(statuses) == {OrderRequest.PLACED}
    assert Order.objects.count() == 5


@pytest.mark.django_db(databases=["default", "logistics"])
@pytest.mark.usefixtures("box", "claimed")
def test_a_request_the_stock_no_longer_covers_is_rejected_by_the_worker(api: APIClient) -> None:
    first, second = accept(api, 2, quantity=60)

    intake_worker.work(stopping=threading.Event(), until_idle=True)

    outcomes = dict(OrderRequest.objects.values_list("pk", "status"))
    assert (outcomes[first], outcomes[second]) == (OrderRequest.PLACED, OrderRequest.REJECTED)


@pytest.mark.django_db(databases=["default", "logistics"])
@pytest.mark.usefixtures("box", "claimed")
def test_a_request_that_fails_is_passed_over_and_the_others_are_placed(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison, *others = accept(api, 3)
    accept_for_real = placement.accept

    def failing_for_the_first(payload: dict[str, Any], **kwargs: Any) -> Order:
        if payload["customer_email"] == "ada0@example.com":
            raise RuntimeError("the database said no")
        return accept_for_real(payload, **kwargs)

    monkeypatch.setattr(placement, "accept", failing_for_the_first)

    processed = intake_worker.work(stopping=threading.Event(), until_idle=True)

    assert processed == 2
    outcomes = dict(OrderRequest.objects.values_list("pk", "status"))
    assert outcomes[poison] == OrderRequest.RECEIVED  # for a later round, or the sweep
    assert {outcomes[pk] for pk in others} == {OrderRequest.PLACED}


@pytest.mark.django_db(databases=["default", "logistics"])
@pytest.mark.usefixtures("box", "claimed")
def test_the_command_places_what_is_waiting_and_exits(api: APIClient, capsys: Any) -> None:
    accept(api, 3)

    call_command("intake_worker", "--until-idle")

    assert "3 order request(s) processed" in capsys.readouterr().out
    assert not OrderRequest.objects.filter(status=OrderRequest.RECEIVED).exists()


@pytest.mark.django_db(databases=["default", "logistics"], transaction=True)
@pytest.mark.usefixtures("box", "claimed")
def test_two_workers_never_place_one_request_twice(api: APIClient, settings: Any) -> None:
    settings.INTAKE_WORKER_BATCH = 3
    ids = accept(api, 30)
    start = threading.Barrier(2)

    def one_worker() -> int:
        start.wait(WAIT_SECONDS)
        return intake_worker.work(stopping=threading.Event(), until_idle=True)

    workers = [InThread(one_worker) for _ in range(2)]
    counts = [worker.outcome() for worker in workers]

    assert sum(counts) == 30
    assert OrderRequest.objects.filter(pk__in=ids, status=OrderRequest.PLACED).count() == 30
    assert Order.objects.count() == 30
    assert Product.objects.get(sku="BOX-S").stock == 70


@pytest.mark.django_db(databases=["default", "logistics"], transaction=True)
@pytest.mark.usefixtures("postgresql_only", "box", "claimed")
def test_a_committed_request_is_announced_and_a_rolled_back_one_is_not(api: APIClient) -> None:
    heard: list[int] = []
    listening = threading.Event()

    def listen() -> None:
        try:
            ear = Announcements(threading.Event())
            ear.listen()
            listening.set()
            # Notifications arrive in commit order: the rolled-back one, had it been sent, first.
            heard.append(ear.wait(WAIT_SECONDS))
        finally:
            connections.close_all()

    listener = threading.Thread(target=listen)
    listener.start()
    assert listening.wait(WAIT_SECONDS)
    try:
        with transaction.atomic():
            accept(api, 1)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    accept(api, 1)
    listener.join(WAIT_SECONDS)

    assert heard == [1]  # the rolled-back request announced nothing


@pytest.mark.django_db(databases=["default", "logistics"])
@pytest.mark.usefixtures("box", "claimed")
def test_the_worker_outlives_a_database_that_went_away(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.INTAKE_WORKER_IDLE_SECONDS = 0.05
    accept(api, 2)
    claims: list[str] = []
    claim_for_real = intake.place_claimed

    def away_once(**kwargs: Any) -> intake.ClaimedBatch:
        claims.append("failed" if not claims else "claimed")
        if len(claims) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return claim_for_real(**kwargs)

    monkeypatch.setattr(intake, "place_claimed", away_once)
    monkeypatch.setattr(connection, "close", lambda: None)  # the test's transaction stays

    processed = intake_worker.work(stopping=threading.Event(), until_idle=True)

    assert (claims, processed) == (["failed", "claimed"], 2)
