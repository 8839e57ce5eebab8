"""Django app for the logistics bounded context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from logistics.adapters.breaker import SharedCircuitBreaker


class LogisticsConfig(AppConfig):
    name = "logistics"
    verbose_name = "Logistics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from logistics.adapters.metrics import ShipmentAttentionCollector, owed_dispatches
        from logistics.wiring import supplier_breaker
        from observability.health import register_readiness_check
        from observability.metrics import register_scrape_collector
        from outbox import owed

        register_scrape_collector(ShipmentAttentionCollector())
        owed.register("dispatch_shipment", owed_dispatches)
        # Reported, not failed on: with the breaker open, orders are still taken and their
        # shipments deferred, so the web process stays ready.
        register_readiness_check("supplier_breaker", lambda: breaker_detail(supplier_breaker()))


def breaker_detail(breaker: SharedCircuitBreaker) -> str:
    snapshot = breaker.state()
    if snapshot.unknown:
        store = "Redis" if breaker.storage.name == "redis" else "its state file"
        return f"breaker state unreadable ({store} unreachable): calls go through, as when closed"
    if snapshot.forced and snapshot.state == "open":
        held = "breaker open, held by an operator"
        return f"{held} ({snapshot.note})" if snapshot.note else held
    return f"breaker {snapshot.state}"
