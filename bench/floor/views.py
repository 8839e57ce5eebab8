"""One POST that inserts one row and answers 201: what accepting a request costs at the least.

Same middleware, gunicorn configuration and database engine as the project; no authentication,
permission check, throttling or validation beyond "the body is JSON".
"""

from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.floor.models import Accepted


class AcceptView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()

    def post(self, request: Request) -> Response:
        row = Accepted.objects.create(payload=request.data)
        return Response({"id": row.pk}, status=201)
