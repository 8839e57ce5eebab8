"""The one place where the logistics service meets its real adapters (chosen from settings).

Entry points (API views, admin actions, management commands, the legacy OrderManager through
``logistics.public``) ask this module for a service; nothing else constructs adapters.
"""

from __future__ import annotations

from django.conf import settings

from logistics.adapters.clock import SystemClock
from logistics.adapters.notifier import EmailNotifier
from logistics.adapters.orm import DjangoShipmentRepository
from logistics.adapters.supplier_http import HttpSupplierGateway
from logistics.services import LogisticsService


def build_logistics_service() -> LogisticsService:
    return LogisticsService(
        repository=DjangoShipmentRepository(),
        supplier=HttpSupplierGateway(
            settings.SUPPLIER_API_URL,
            connect_timeout=settings.SUPPLIER_CONNECT_TIMEOUT,
            read_timeout=settings.SUPPLIER_READ_TIMEOUT,
        ),
        notifier=EmailNotifier(),
        clock=SystemClock(),
    )
