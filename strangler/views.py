"""The ops panel's JSON: the strangler's state as staff read it (GET /ops/strangler/).

Modes, percentages, the kill switch, the data phase with its parity and the next phase's
preconditions, mismatches of the last day and the last changes, and the version (and phase)
this process routes by (``process``: which copy of the state answered). Staff only (the
admin's session); changes go through the admin or ``manage.py strangler``.
"""

from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from strangler import selectors, wiring


@never_cache
@require_GET
def panel_state(request: HttpRequest) -> JsonResponse:
    user = request.user
    if not user.is_authenticated:
        return JsonResponse({"error": "sign in as staff (the admin's login)"}, status=401)
    if not user.is_staff:
        return JsonResponse({"error": "staff only"}, status=403)
    snapshot = wiring.store().snapshot()
    process = {
        "pid": os.getpid(),
        "version": snapshot.version,
        "killed": snapshot.killed,
        "phase": snapshot.phase.value,
    }
    return JsonResponse({**selectors.status(), "process": process})
