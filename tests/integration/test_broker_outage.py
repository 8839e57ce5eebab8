"""The request does not wait on a sick broker or cache (docs/adr/0015).

The broker and the cache are pointed at a server that accepts connections and never answers
(a hung Redis, the worst case for a client) or at a private redis-server. Nothing here is
timed: the short timeouts bound each wait, and what is checked is how often the hung server
was tried (its accepted connections), with the gates' clocks injected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from rest_framework.test import APIClient

from config import cache as fail_open_cache
from monolithos.models import OrderRequest
from observability.dependencies import Unreachable
from outbox import broker
from tests.factories import ProductFactory, ShopAccountFactory, api_client
from tests.redis_server import RedisServer, SilentServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def point_broker_at(url: str) -> None:
    current_app.conf.update(broker_url=url, broker_write_url=url)
    broker._drop_connection()


@pytest.fixture
def broker_at(monkeypatch, clock) -> Iterator[Any]:
    """Point the publisher at a URL for the test; the gate's clock is the test's."""
    monkeypatch.setattr(broker, "broker_state", Unreachable("broker", retry_after=1.0, clock=clock))
    before = {name: current_app.conf.get(name) for name in ("broker_url", "broker_write_url")}
    yield point_broker_at
    current_app.conf.update(before)
    broker._drop_connection()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_publish_to_a_hung_broker_gives_up_within_its_timeouts_and_is_not_retried_at_once(
    broker_at, silent, clock, settings
):
    broker_at(silent.url())

    with pytest.raises(broker.BrokerUnavailable):
        broker.send("monolithos.tasks.place_order_request", args=[1])
    tried = silent.accepted
    assert tried >= 1
    transport: dict[str, Any] = broker._connection().transport_options or {}
    assert transport["socket_timeout"] == transport["socket_connect_timeout"]
    assert transport["socket_timeout"] == settings.BROKER_PUBLISH_TIMEOUT_SECONDS == 0.25

    for _ in range(20):  # a second's worth of requests: none of them waits on it
        with pytest.raises(broker.BrokerUnavailable, match="not tried"):
            broker.send("monolithos.tasks.place_order_request", args=[1])
    assert silent.accepted == tried

    clock.now += broker.RETRY_AFTER_SECONDS  # a second later, one caller tries again
    with pytest.raises(broker.BrokerUnavailable, match="failed"):
        broker.send("monolithos.tasks.place_order_request", args=[1])
    assert silent.accepted > tried


@pytest.fixture
def shop_api() -> APIClient:
    ProductFactory(sku="BOX-S", price="12.50", stock=10)
    return api_client(ShopAccountFactory())


ORDER = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": "12 Analytical Row",
    "lines": [{"sku": "BOX-S", "quantity": 1}],
}


@pytest.mark.django_db
def test_the_intake_accepts_orders_while_broker_and_cache_hang_and_tries_each_once(
    broker_at, silent, clock, settings, monkeypatch, shop_api, django_capture_on_commit_callbacks
):
    broker_at(silent.url())
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": silent.url(1)}
    }
    monkeypatch.setattr(
        fail_open_cache, "cache_state", Unreachable("cache", retry_after=1.0, clock=clock)
    )

    statuses = []
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            response = shop_api.post("/api/v1/orders/", ORDER, format="json")
        statuses.append(response.status_code)

    assert statuses == [202] * 5
    assert OrderRequest.objects.filter(status="received").count() == 5  # left to the sweep
    # One connection for the cache's first throttle read, one (or kombu's few) for the first
    # publish; the other four requests took both fallbacks at once.
    assert fail_open_cache.cache_state.down_for() == 0.0
    assert broker.broker_state.down_for() == 0.0
    first_round = silent.accepted
    assert 2 <= first_round <= 4

    clock.now += 1.0
    with django_capture_on_commit_callbacks(execute=True):
        assert shop_api.post("/api/v1/orders/", ORDER, format="json").status_code == 202
    assert silent.accepted > first_round  # one more try of each, a second later


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def test_a_peek_tells_the_oldest_message_waiting_in_a_queue(broker_at, private_redis):
    broker_at(private_redis.url())
    queue = broker.queue_of("notifications.tasks.send_notification")

    assert broker.queue_head(queue) == broker.QueueHead(known=True)  # empty
    for sent_at in (100.0, 200.0):
        broker.send(
            "notifications.tasks.send_notification",
            kwargs={"idempotency_key": f"k{sent_at}"},
            headers={broker.SENT_AT_HEADER: sent_at},
        )
    head = broker.queue_head(queue)
    assert head.sent_at == 100.0
    assert head.passed(99.0, slack=0) and not head.passed(100.0, slack=0)

    import redis

    raw = redis.Redis.from_url(private_redis.url()).rpop(queue)  # a worker takes the oldest
    assert isinstance(raw, bytes)
    assert json.loads(raw)["headers"]["monolithos_sent_at"] == 100.0
    assert broker.queue_head(queue).sent_at == 200.0


def test_every_message_carries_its_send_time_not_only_the_outboxs(broker_at, private_redis):
    broker_at(private_redis.url())
    queue = broker.queue_of("logistics.tasks.dispatch_shipment")

    # As logistics enqueues a dispatch: Celery's own publish, no header of ours.
    with current_app.connection_for_write(private_redis.url()) as connection:
        current_app.send_task(
            "logistics.tasks.dispatch_shipment", args=["a-shipment"], connection=connection
        )

    head = broker.queue_head(queue)
    assert head.known and not head.unstamped and head.sent_at is not None


def test_a_killed_broker_is_unavailable_and_an_empty_one_after_its_restart(
    broker_at, private_redis, clock
):
    broker_at(private_redis.url())
    queue = broker.queue_of("notifications.tasks.send_notification")
    broker.send("notifications.tasks.send_notification", kwargs={"idempotency_key": "k"})
    assert broker.queue_head(queue).sent_at is not None

    private_redis.kill()
    with pytest.raises(broker.BrokerUnavailable):
        broker.queue_head(queue)

    private_redis.start()  # no persistence: what it held is gone
    clock.now += broker.RETRY_AFTER_SECONDS
    assert broker.queue_head(queue) == broker.QueueHead(known=True)
    broker.send("notifications.tasks.send_notification", kwargs={"idempotency_key": "k"})
    assert broker.queue_head(queue).sent_at is not None
