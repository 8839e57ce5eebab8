"""Cursor pagination of shipment lists: newest first, stable under concurrent inserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView

_Model = TypeVar("_Model", bound=Model)
_Row = TypeVar("_Row")


class ShipmentCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    # -id breaks ties between shipments created in the same microsecond (shipment_recent_idx).
    ordering = ("-created_at", "-id")

    def paginate_queryset(
        self,
        queryset: QuerySet[_Model, _Row] | Sequence[_Row],
        request: Request,
        view: APIView | None = None,
    ) -> list[_Row] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except DjangoValidationError:
            # A well-encoded cursor whose position is not a timestamp: forged, not ours.
            raise NotFound(self.invalid_cursor_message) from None
