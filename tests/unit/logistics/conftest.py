"""The service layer's unit-test wiring: LogisticsService on fakes, each fake a fixture.

A module overrides the fixture it needs to change (``repository`` with a contended one, say);
the service is built the same way everywhere.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from logistics.services import LogisticsService
from tests.unit.logistics.fakes import (
    FakeListener,
    FakeNotifier,
    FakeShipmentRepository,
    FakeSupplier,
    FixedClock,
)


@pytest.fixture
def repository() -> FakeShipmentRepository:
    return FakeShipmentRepository()


@pytest.fixture
def supplier() -> FakeSupplier:
    return FakeSupplier()


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def listener() -> FakeListener:
    return FakeListener()


@pytest.fixture
def service(repository, supplier, notifier, clock, listener) -> LogisticsService:
    return LogisticsService(
        repository=repository,
        supplier=supplier,
        notifier=notifier,
        clock=clock,
        retry_delay=timedelta(minutes=1),
        listeners=[listener],
    )
