from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination

from couponsite.bounds import ID_MAX


class BookPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CouponCursorPagination(CursorPagination):
    """Cursor pages in id order: steady cost at any depth of a million-code book."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

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
