"""Coupon and book rows read with hand-written SQL, and the model instances
made from them: the columns in the models' own field order, written once."""

from __future__ import annotations

from typing import Any

from django.db import connection

from books.models import Book
from coupons.models import Coupon

COUPON_FIELDS = [field.column for field in Coupon._meta.concrete_fields]
BOOK_FIELDS = [field.column for field in Book._meta.concrete_fields]
COUPON_COLUMNS = ", ".join(f"coupon.{column}" for column in COUPON_FIELDS)
BOOK_COLUMNS = ", ".join(f"book.{column}" for column in BOOK_FIELDS)
# A coupon with its book, the way every read of one coupon for a partner starts.
COUPON_AND_BOOK_SQL = f"""
SELECT {COUPON_COLUMNS}, {BOOK_COLUMNS}
FROM coupons_coupon coupon JOIN books_book book ON book.id = coupon.book_id
"""  # noqa: S608 - columns from the models


def coupon_from_row(row: tuple[Any, ...]) -> Coupon:
    """A coupon from a row starting with ``COUPON_FIELDS``."""
    return Coupon.from_db(connection.alias, None, row[: len(COUPON_FIELDS)])


def book_from_row(row: tuple[Any, ...]) -> Book:
    """A book from a row starting with ``BOOK_FIELDS``."""
    return Book.from_db(connection.alias, None, row[: len(BOOK_FIELDS)])


def coupon_with_book_from_row(row: tuple[Any, ...]) -> Coupon:
    """A coupon and its book from a row of ``COUPON_AND_BOOK_SQL``."""
    coupon = coupon_from_row(row)
    coupon.book = book_from_row(row[len(COUPON_FIELDS) :])
    return coupon
