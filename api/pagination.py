from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination

from api.fields import WHOLE_NUMBER
from couponsite.bounds import ID_MAX


class StrictPageSize:
    """``page_size`` is a positive integer or absent, as the schema says: DRF
    would take ``null``, ``-5`` or ``abc`` for the default without a word. A
    size above the largest is the largest (the schema's description says so)."""

    page_size: int
    page_size_query_param = "page_size"
    max_page_size: int

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not WHOLE_NUMBER.fullmatch(raw) or int(raw) < 1:
            raise ValidationError({self.page_size_query_param: ["Must be a whole number, 1 or more."]})
        return min(int(raw), self.max_page_size)

    def page_size_schema_parameter(self) -> dict[str, Any]:
        return {
            "name": self.page_size_query_param,
            "required": False,
            "in": "query",
            "description": f"Items on a page: {self.page_size} unless given, at most {self.max_page_size}.",
            "schema": {"type": "integer", "minimum": 1},
        }


class BookPagination(StrictPageSize, PageNumberPagination):
    page_size = 50
    max_page_size = 200

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        page = {
            "name": self.page_query_param,
            "required": False,
            "in": "query",
            "description": "A page number, from 1; past the last page: 404.",
            "schema": {"type": "integer", "minimum": 1},
        }
        return [page, self.page_size_schema_parameter()]


class CouponCursorPagination(StrictPageSize, CursorPagination):
    """Cursor pages in id order: steady cost at any depth of a million-code book."""

    ordering = "id"
    page_size = 100
    max_page_size = 1000

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        cursor, _ = super().get_schema_operation_parameters(view)
        return [cursor, self.page_size_schema_parameter()]

    def decode_cursor(self, request: Any) -> Any:
        # DRF trusts the position inside a well-formed cursor and filters on it
        # as is: a forged "p=abc" or "p=10**30" would be a server error.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not self.valid_position(str(cursor.position)):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    @staticmethod
    def valid_position(position: str) -> bool:
        return position.isdigit() and int(position) <= ID_MAX


class RedemptionCursorPagination(CouponCursorPagination):
    """Oldest first: redemption ids are random UUIDs, so time orders them."""

    ordering = ("created_at", "id")

    @staticmethod
    def valid_position(position: str) -> bool:
        try:
            return parse_datetime(position) is not None
        except ValueError:
            return False


class NewestFirstCursorPagination(CouponCursorPagination):
    """Newest first, for logs such as webhook delivery attempts."""

    ordering = "-id"
    page_size = 50
    max_page_size = 200
