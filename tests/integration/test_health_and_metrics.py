"""/healthz, /readyz and /metrics: what probes and scrapers see."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.domain import SupplierConfirmation
from tests.characterization.shop import order_payload, place
from tests.conftest import ROOT
from tests.factories import ProductFactory
from tests.integration.logistics_api.factories import EPOCH, ShipmentFactory


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    for line in metrics_text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            label_part = line[len(name) :].split(" ")[0].strip("{}")
            if wanted <= set(label_part.split(",")):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_healthz_answers_without_touching_any_dependency(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.django_db(databases=["default", "logistics"])
def test_readyz_checks_both_database_aliases(client, settings):
    response = client.get("/readyz")

    assert response.status_code == 200
    cache = "Redis" if settings.CACHE_URL else "in process memory (CACHE_URL unset)"
    assert response.json() == {
        "status": "ok",
        "failed": [],
        "checks": {
            "database:default": {"ok": True},
            "database:logistics": {"ok": True},
            "broker": {"ok": True},
            "cache": {"ok": True, "detail": cache},
            "supplier_breaker": {"ok": True, "detail": "breaker closed"},
        },
    }


def test_readyz_reports_an_unreachable_broker_as_degraded_and_stays_ready():
    # Requests are still accepted while the broker is down: the sweeps hand their work over
    # later (docs/adr/0015). Taking the web out of the load balancer would lose them instead.
    status, body = readyz_in_a_process(CELERY_BROKER_URL="redis://127.0.0.1:9/0")

    assert status == "200"
    readiness = json.loads(body)
    assert (readiness["status"], readiness["failed"]) == ("degraded", [])
    broker = readiness["checks"]["broker"]
    assert broker["ok"] and broker["degraded"]
    assert broker["detail"].startswith("unreachable for 0 s (OperationalError): ")
    assert "the sweeps hand the work over once it answers" in broker["detail"]
    assert "127.0.0.1:9" not in body  # connection details stay in the logs


def test_a_lost_redis_leaves_the_web_ready_with_the_breaker_failing_open():
    """Broker and breaker state on one Redis that is gone: the outage of issue 13."""
    status, body = readyz_in_a_process(REDIS_URL="redis://127.0.0.1:9/0")

    assert status == "200"
    readiness = json.loads(body)
    assert (readiness["status"], readiness["failed"]) == ("degraded", [])
    assert readiness["checks"]["supplier_breaker"] == {
        "ok": True,
        "detail": "breaker state unreadable (Redis unreachable): calls go through, as when closed",
    }


@pytest.mark.django_db(databases=["default", "logistics"])
def test_readyz_says_what_is_owed_past_its_lease(client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from outbox.models import OutboxMessage

    settings.OUTBOX_RELAY_GRACE_SECONDS = 30
    long_ago = timezone.now() - timedelta(minutes=2)
    OutboxMessage.objects.create(key="shipment:ORD-1", task="logistics.tasks.create_shipment")
    OutboxMessage.objects.update(created_at=long_ago)

    response = client.get("/readyz")

    assert response.status_code == 200
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] and "degraded" not in broker
    assert re.fullmatch(
        r"owed past their lease: 1 create_shipment; the oldest owed for 1[23]\d s", broker["detail"]
    )


def test_readyz_shows_an_unreachable_cache_and_stays_ready():
    status, body = readyz_in_a_process(CACHE_URL="redis://127.0.0.1:9/0")

    assert status == "200"
    assert '"cache": {"ok": true, "detail": "Redis unreachable (ConnectionError)' in body


def readyz_in_a_process(**variables: str) -> tuple[str, str]:
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(r.status_code, json.dumps(r.json()))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "ERROR"}
    for name in ("DATABASE_URL", "LOGISTICS_DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)  # the embedded defaults, but for what the test points elsewhere
    env.update(variables)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    status, body = result.stdout.strip().split(" ", 1)
    return status, body


def test_readyz_answers_503_naming_an_unreachable_logistics_database():
    """A real process whose logistics alias points at a PostgreSQL nobody listens on."""
    status, body = readyz_in_a_process(
        LOGISTICS_DATABASE_URL="postgres://postgres@127.0.0.1:9/unreachable"
    )

    assert status == "503"
    assert '"failed": ["database:logistics"]' in body
    assert '"database:default": {"ok": true}' in body
    assert '"supplier_breaker": {"ok": true, "detail": "breaker closed"}' in body
    assert "OperationalError" in body
    assert "127.0.0.1:9" not in body  # connection details stay in the logs


@pytest.mark.django_db
@pytest.mark.simulator
def test_metrics_expose_requests_and_the_project_slis(client, supplier):
    ProductFactory(sku="PALLET", stock=10)
    before = client.get("/metrics").content.decode()

    place(client, order_payload())
    place(client, order_payload(lines=[{"sku": "NOPE", "quantity": 1}]))
    supplier.set_chaos(failure_rate=1.0)
    place(client, order_payload())

    after = client.get("/metrics").content.decode()

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("monolithos_orders_placed_total", side="legacy") == 2
    assert delta("monolithos_orders_failed_total", side="legacy", reason="rejected") == 1
    assert delta("monolithos_order_placement_seconds_count", side="legacy", outcome="placed") == 2
    assert delta("monolithos_supplier_call_seconds_count", operation="dispatch", outcome="ok") == 1
    assert (
        delta("monolithos_supplier_call_seconds_count", operation="dispatch", outcome="error") == 1
    )
    assert (
        delta(
            "django_http_responses_total_by_status_view_method_total",
            status="201",
            view="monolithos:api_place_order",
            method="POST",
        )
        == 2
    )
    assert 'le="0.5"' in after  # the latency SLO's threshold is a bucket boundary


@pytest.mark.django_db
def test_metrics_count_the_shipments_that_need_attention(client):
    repository = DjangoShipmentRepository()
    conflicts = [ShipmentFactory(cancelled=True) for _ in range(2)]
    for shipment in conflicts:
        shipment.record_dispatch_after_cancel(SupplierConfirmation("SUP-9", "TRK9"), EPOCH)
        repository.save(shipment)
    conflicts[0].resolve_attention(EPOCH)
    repository.save(conflicts[0])

    text = client.get("/metrics").content.decode()

    assert sample(text, "monolithos_shipments_needing_attention") == 1


@pytest.mark.django_db
def test_metrics_are_not_public_in_production(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    settings.METRICS_TOKEN = "scrape-token-0123456789"

    outsider = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    wrong_token = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope"
    )
    with_token = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789"
    )
    local = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert (outsider.status_code, wrong_token.status_code) == (403, 403)
    assert (with_token.status_code, local.status_code) == (200, 200)


def test_every_route_is_named_so_the_view_label_means_something():
    """Our routes, that is: the admin's own compatibility redirects are Django's business."""

    def unnamed(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                yield from unnamed(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and not pattern.name:
                yield prefix + str(pattern.pattern)

    assert list(unnamed(get_resolver().url_patterns)) == []


@pytest.mark.django_db(databases=["default", "logistics"])
def test_readyz_reports_an_open_breaker_without_failing(client):
    from logistics.wiring import supplier_breaker

    supplier_breaker().force_open("open by ops at 2026-01-01T00:00:00+00:00: maintenance")

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["supplier_breaker"] == {
        "ok": True,
        "detail": "breaker open, held by an operator "
        "(open by ops at 2026-01-01T00:00:00+00:00: maintenance)",
    }
