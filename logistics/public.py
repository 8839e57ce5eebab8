"""The public API of the logistics context: the only module other packages may import.

An import-linter contract enforces it. Everything here is either the facade, the function that
builds it, a boundary contract (pydantic) or an error a caller may need to catch.
"""

from __future__ import annotations

from logistics.contracts import (
    CREATE_SHIPMENT_TASK,
    SHIPMENT_LIMITS,
    CreateShipment,
    DispatchOutcome,
    ImportReport,
    ItemIn,
    LegacyShipment,
    QuoteView,
    ShipmentEvent,
    ShipmentLimits,
    ShipmentListener,
    ShipmentView,
    SweepReport,
    TrackingView,
)
from logistics.domain import (
    CancelledDuringDispatch,
    IllegalTransition,
    InvalidShipment,
    LogisticsError,
    ShipmentChanged,
    ShipmentEventKind,
    ShipmentNotFound,
    ShipmentStatus,
)
from logistics.services import LogisticsService
from logistics.wiring import build_logistics_service

__all__ = [
    "CREATE_SHIPMENT_TASK",
    "SHIPMENT_LIMITS",
    "CancelledDuringDispatch",
    "CreateShipment",
    "DispatchOutcome",
    "IllegalTransition",
    "ImportReport",
    "InvalidShipment",
    "ItemIn",
    "LegacyShipment",
    "LogisticsError",
    "LogisticsService",
    "QuoteView",
    "ShipmentChanged",
    "ShipmentEvent",
    "ShipmentEventKind",
    "ShipmentLimits",
    "ShipmentListener",
    "ShipmentNotFound",
    "ShipmentStatus",
    "ShipmentView",
    "SweepReport",
    "TrackingView",
    "build_logistics_service",
]
