"""What generation and import share: a temporary staging table that rows are
COPYed into, and the INSERT that moves them into ``coupons_coupon``.

Creating a coupon writes no audit event: events record transitions of a
coupon's state, and a coupon's history starts at ``created_at``.
"""

from __future__ import annotations

import secrets
from typing import Any

from psycopg import sql

from books.models import Book

# Rows are formatted and sent to COPY this many at a time.
COPY_CHUNK = 10_000
# Staged rows move into the coupons table this many at a time.
BATCH_SIZE = 100_000

INSERT_SQL = """
INSERT INTO coupons_coupon (book_id, partner_id, code, state, redemption_count, sort_key, created_at, updated_at)
SELECT %(book)s, %(partner)s, code, 'available', 0, sort_key, now(), now()
FROM {staging} {tail}
"""


def create_staging(cursor: Any, columns: str) -> sql.Identifier:
    """A new temporary table with ``columns``, dropped at commit at the latest."""
    # A fresh name per call: one connection may run several loads in one
    # outer transaction (tests do), and ON COMMIT DROP only drops at the end.
    staging = sql.Identifier(f"coupons_staging_{secrets.token_hex(6)}")
    cursor.execute(sql.SQL(f"CREATE TEMPORARY TABLE {{}} ({columns}) ON COMMIT DROP").format(staging))
    return staging


def insert_from_staging(staging: sql.Identifier, *, tail: str) -> sql.Composed:
    """The INSERT of staged rows (``code``, ``sort_key``) into a book; its
    parameters are ``book_parameters`` and any that ``tail`` adds."""
    return sql.SQL(INSERT_SQL).format(staging=staging, tail=sql.SQL(tail))


def book_parameters(book: Book) -> dict[str, int]:
    return {"book": book.pk, "partner": book.partner_id}
