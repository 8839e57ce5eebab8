"""The ops panel's traffic counter and charts: counts by route and minute in memory, kept when
they cannot be stored; charts' lines broken where a minute measured nothing; timestamps as
the panel shows them."""

from __future__ import annotations

from collections import Counter

import pytest

from strangler import traffic
from strangler.panel.charts import HEIGHT, LEFT, TOP, lines, route_charts
from strangler.templatetags.strangler_panel import moment
from strangler.testing import FakeClock


def test_counts_go_to_the_minute_of_the_clock():
    clock = FakeClock(start=120.0)  # minute 2 since the epoch
    counter = traffic.TrafficCounter(clock=clock)
    counter.count("api_track_order", "legacy")
    counter.count("api_track_order", "legacy")
    clock.advance(59.0)
    counter.count("api_track_order", "new")
    clock.advance(1.0)  # minute 3
    counter.count("api_track_order", "new", 2)

    assert counter.pending() == {
        ("api_track_order", 2): Counter(legacy=2, new=1),
        ("api_track_order", 3): Counter(new=2),
    }
    assert traffic.minute_start(3).isoformat() == "1970-01-01T00:03:00+00:00"


def test_counts_that_could_not_be_stored_are_kept_for_the_next_flush(monkeypatch):
    counter = traffic.TrafficCounter(clock=FakeClock(start=0.0))
    counter.count("r", "legacy")

    def unreachable(pending):
        raise ConnectionError("database away")

    monkeypatch.setattr(traffic, "store", unreachable)
    assert counter.flush() == 0
    counter.count("r", "legacy")

    stored: list[dict] = []
    monkeypatch.setattr(traffic, "store", stored.append)
    assert counter.flush() == 1
    assert stored == [{("r", 0): Counter(legacy=2)}]
    assert counter.pending() == {}
    assert counter.flush() == 0  # nothing to store: no query


def test_a_chart_line_breaks_where_a_minute_measured_nothing():
    drawn = lines([0.0, 100.0, None, 50.0, None])

    assert len(drawn) == 2
    first, second = drawn
    bottom = HEIGHT - 30
    assert first.split()[0] == f"{LEFT:.1f},{bottom:.1f}"  # 0 % at the bottom
    assert first.split()[1].endswith(f",{TOP:.1f}")  # 100 % at the top
    assert second.split()[0] == second.split()[1]  # one minute: a dot


@pytest.mark.parametrize("field", ["new_share", "mismatch_rate"])
def test_each_route_has_both_charts_with_the_latest_value(field):
    minutes: list[dict[str, float | None]] = [{"new_share": None, "mismatch_rate": None}] * 58
    minutes += [
        {"new_share": 25.0, "mismatch_rate": 0.0},
        {"new_share": 30.0, "mismatch_rate": None},
    ]

    charts = {chart.field: chart for chart in route_charts("api_track_order", minutes)}

    assert set(charts) == {"new_share", "mismatch_rate"}
    assert charts["new_share"].latest == 30.0
    assert charts["mismatch_rate"].latest == 0.0
    assert charts[field].title


def test_the_panel_shows_timestamps_in_utc_to_the_second():
    assert moment("2026-12-04T02:45:03.541334+01:00") == "2026-12-04 01:45:03 UTC"
    assert moment(None) == ""
    assert moment("not a time") == "not a time"


def test_the_latest_measured_minute_is_marked():
    minutes: list[dict[str, float | None]] = [{"new_share": 50.0, "mismatch_rate": None}] * 2
    minutes += [{"new_share": None, "mismatch_rate": None}]

    share, mismatches = route_charts("api_track_order", minutes)

    assert share.marker == tuple(share.lines[-1].split()[-1].split(","))
    assert share.latest == 50.0
    assert mismatches.marker is None and mismatches.latest is None
