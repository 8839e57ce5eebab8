"""The ops panel's traffic counts: each answered request counted by route and side, each shadow
comparison by route, added to the table by F() increments (processes add up), kept through a
failed flush, flushed at exit, purged after their retention."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from strangler import traffic
from strangler.models import TrafficMinute
from strangler.tasks import purge_traffic
from strangler.testing import FakeClock, override_modes
from strangler.traffic import Flusher, TrafficCounter, minute_start

pytestmark = pytest.mark.django_db

MINUTE = 29_000_000  # a minute since the epoch (2025)


def stored() -> dict[tuple[str, str], tuple[int, int, int, int]]:
    return {
        (row.route, row.minute.isoformat()): (row.legacy, row.new, row.compared, row.mismatched)
        for row in TrafficMinute.objects.all()
    }


@pytest.mark.parametrize("mode, side", [("legacy", "legacy"), ("new", "new")])
def test_each_answered_request_is_counted_by_route_and_side(client, mode, side):
    with override_modes({"api_track_order": mode}) as runtime:
        for order_id in (1, 2, 3):
            assert client.get(f"/api/orders/{order_id}/track/").status_code == 404

    [(key, counts)] = runtime.traffic.pending().items()
    assert key[0] == "api_track_order"
    assert counts == Counter({side: 3})


def test_a_shadow_comparison_is_counted_beside_the_legacy_answer(client):
    with override_modes({"api_track_order": "shadow"}) as runtime:
        assert client.get("/api/orders/1/track/").status_code == 404

    [counts] = runtime.traffic.pending().values()
    assert counts == Counter(legacy=1, compared=1)  # both sides answered 404: a match


def test_counts_of_two_processes_add_up_in_the_table():
    clock = FakeClock(start=MINUTE * 60.0)
    first, second = TrafficCounter(clock=clock), TrafficCounter(clock=clock)
    first.count("api_track_order", "legacy", 5)
    second.count("api_track_order", "new", 2)
    second.count("api_track_order", "compared", 2)
    second.count("api_track_order", "mismatched")

    assert first.flush() == 1
    assert second.flush() == 1
    first.count("api_track_order", "legacy")
    assert first.flush() == 1

    minute = minute_start(MINUTE).isoformat()
    assert stored() == {("api_track_order", minute): (6, 2, 2, 1)}


def test_a_flusher_stopping_flushes_what_is_left(monkeypatch):
    # Its thread's connection is its own; here the flush runs on the test's, inside the test's
    # transaction, which close_old_connections would close (as Django's test client avoids).
    monkeypatch.setattr(traffic, "close_old_connections", lambda: None)
    counter = TrafficCounter(clock=FakeClock(start=MINUTE * 60.0))
    counter.count("api_invoice_pdf", "new", 4)

    Flusher(counter, every=3600).stop()

    assert stored() == {("api_invoice_pdf", minute_start(MINUTE).isoformat()): (0, 4, 0, 0)}
    assert counter.pending() == {}


def test_minutes_older_than_the_retention_are_purged(settings):
    settings.STRANGLER_TRAFFIC_RETENTION_HOURS = 48
    now = timezone.now().replace(second=0, microsecond=0)
    TrafficMinute.objects.create(route="api_track_order", minute=now - timedelta(hours=49))
    TrafficMinute.objects.create(route="api_track_order", minute=now - timedelta(hours=47))

    assert purge_traffic() == 1
    assert TrafficMinute.objects.get().minute == now - timedelta(hours=47)
