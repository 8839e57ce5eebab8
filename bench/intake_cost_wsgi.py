"""WSGI application for bench/intake_cost.py: the project's, with parts of the intake left out.

``BENCH_LEAVE_OUT`` names the parts, comma-separated (``intake_cost.PARTS``). Leaving a part out
is a measuring device for that benchmark only: it tells what the part costs under a herd. It is
never a configuration, and nothing outside bench/ imports this module.
"""

from __future__ import annotations

import os
from typing import Any

from rest_framework.response import Response

from config.wsgi import application
from monolithos import api, intake, placement
from monolithos.models import OrderRequest

__all__ = ["application"]

LEFT_OUT = {part for part in os.environ.get("BENCH_LEAVE_OUT", "").split(",") if part}


def _no_hand_over(request_id: int, trace_id: str) -> None:
    return None


def _no_catalogue_check(data: object, *, repo: Any) -> Any:
    return None


def _bare_answer(request: OrderRequest, *, status: int, headers: dict[str, str]) -> Response:
    return Response({"id": request.pk}, status=status, headers=headers)


def _known_token_user() -> Any:
    """Token authentication without its query: the first token's user, looked up once."""
    from rest_framework.authtoken.models import Token

    user = Token.objects.select_related("user").get().user

    def authenticate(self: Any, request: Any) -> tuple[Any, None]:
        return user, None

    return authenticate


if "hand_over" in LEFT_OUT:
    intake._hand_over = _no_hand_over
if "catalogue_check" in LEFT_OUT:
    # The web process only: no worker runs in this benchmark.
    placement.validate = _no_catalogue_check
if "response_body" in LEFT_OUT:
    api.follow = _bare_answer
if "throttle" in LEFT_OUT:
    api.OrderAcceptApi.throttle_classes = ()
if "token_lookup" in LEFT_OUT:
    from rest_framework.authentication import TokenAuthentication

    TokenAuthentication.authenticate = _known_token_user()  # type: ignore[method-assign]
