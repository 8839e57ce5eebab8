"""Operational endpoints: /healthz, /readyz and /metrics.

/readyz answers its status to anyone and its details only to whoever may read /metrics
(``metrics_access_allowed``).
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import generate_latest

from observability.health import run_readiness_checks
from observability.metrics import SCRAPE_REGISTRY


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_readiness_checks()
    failed = sorted(name for name, result in checks.items() if not result["ok"])
    degraded = any(result.get("degraded") for result in checks.values())
    status = "unavailable" if failed else "degraded" if degraded else "ok"
    # The status is for every load balancer; which dependency failed, the breaker's state and
    # what is owed are for the operators, as /metrics is.
    body: dict[str, object] = {"status": status}
    if metrics_access_allowed(request):
        body.update(failed=failed, checks=checks)
    return JsonResponse(body, status=503 if failed else 200)


def metrics_access_allowed(request: HttpRequest) -> bool:
    """A scraper gets in by address (METRICS_ALLOWED_NETWORKS) or by bearer token (METRICS_TOKEN).

    REMOTE_ADDR is the peer's address, never a forwarded header: behind a proxy, give the
    scraper a token or let it reach the app directly.
    """
    token: str | None = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = (
        settings.METRICS_ALLOWED_NETWORKS
    )
    return any(address in network for network in networks)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        return JsonResponse({"error": "metrics are not public"}, status=403)
    response: HttpResponse = ExportToDjangoView(request)
    response.content += generate_latest(SCRAPE_REGISTRY)
    return response
