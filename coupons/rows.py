"""Coupon and book rows read with hand-written SQL, and the model instances
made from them: the columns in the models' own field order, written once."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Model

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


def _converted(model: type[Model]) -> list[tuple[int, Any]]:
    return [(i, field) for i, field in enumerate(model._meta.concrete_fields) if hasattr(field, "from_db_value")]


# Fields whose values Django converts after reading (a JSON column arrives as
# text): its query compiler does it, ``from_db`` does not.
CONVERTED = {Coupon: _converted(Coupon), Book: _converted(Book)}


def _from_db(model: type[Model], values: tuple[Any, ...]) -> Any:
    values = list(values)
    for i, field in CONVERTED[model]:
        values[i] = field.from_db_value(values[i], None, connection)
    return model.from_db(connection.alias, None, values)


def coupon_from_row(row: tuple[Any, ...]) -> Coupon:
    """A coupon from a row starting with ``COUPON_FIELDS``."""
    return _from_db(Coupon, row[: len(COUPON_FIELDS)])


def book_from_row(row: tuple[Any, ...]) -> Book:
    """A book from a row starting with ``BOOK_FIELDS``."""
    return _from_db(Book, row[: len(BOOK_FIELDS)])


def coupon_with_book_from_row(row: tuple[Any, ...]) -> Coupon:
    """A coupon and its book from a row of ``COUPON_AND_BOOK_SQL``."""
    coupon = coupon_from_row(row)
    coupon.book = book_from_row(row[len(COUPON_FIELDS) :])
    return coupon
