"""The placement SLI counts real placements: a shadow write's (rolled back) is only logged."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from observability import shadow
from observability.metrics import order_placement


class Refused(Exception):
    pass


def sli(side: str) -> tuple[float, ...]:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"side": side, **labels}) or 0.0

    return (
        value("monolithos_order_placement_seconds_count", outcome="placed"),
        value("monolithos_order_placement_seconds_count", outcome="rejected"),
        value("monolithos_orders_placed_total"),
        value("monolithos_orders_failed_total", reason="rejected"),
    )


def place(*, refuse: bool = False) -> None:
    with order_placement("unit-test", rejected=(Refused,)):
        if refuse:
            raise Refused


def test_a_placement_is_measured_and_counted():
    before = sli("unit-test")

    place()
    with pytest.raises(Refused):
        place(refuse=True)

    after = sli("unit-test")
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1, 1]


def test_a_shadow_writes_placement_is_logged_but_neither_measured_nor_counted(log_lines):
    before = sli("unit-test")

    with shadow.shadow_write():
        assert shadow.active()
        place()
        with pytest.raises(Refused):
            place(refuse=True)

    assert not shadow.active()
    assert sli("unit-test") == before
    logged = [(line["outcome"], line.get("shadow")) for line in log_lines.events("order_placement")]
    assert logged == [("placed", True), ("rejected", True)]
