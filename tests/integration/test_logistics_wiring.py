"""The bootstrap: the service it builds tells the listeners the settings name."""

from __future__ import annotations

import pytest

from logistics import wiring
from logistics.contracts import CreateShipment, ItemIn, ShipmentView
from logistics.wiring import build_logistics_service

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


class RecordingListener:
    def __init__(self) -> None:
        self.told: list[ShipmentView] = []

    def shipment_changed(self, shipment: ShipmentView) -> None:
        self.told.append(shipment)


def test_the_listeners_named_in_the_settings_are_built_once_and_told_of_changes(settings):
    wiring._listeners.cache_clear()
    settings.LOGISTICS_SHIPMENT_LISTENERS = [f"{__name__}.RecordingListener"]

    service = build_logistics_service()
    [listener] = service.listeners
    created = service.create_shipment(
        CreateShipment(
            order_ref="ORD-000001",
            destination="1 Dock Road",
            items=[ItemIn(sku="BOX-S", quantity=1)],
        )
    )

    assert isinstance(listener, RecordingListener)
    assert build_logistics_service(background=True).listeners == (listener,)
    assert listener.told == [created]


def test_by_default_the_legacy_orders_shipping_columns_listen():
    [listener] = build_logistics_service().listeners

    assert f"{type(listener).__module__}.{type(listener).__qualname__}" == (
        "monolithos.shipping_columns.LegacyShippingColumns"
    )
