"""The first round trip of every coupon transaction: take the advisory lock,
then read what the rules need, fresh and row-locked, in one call.

The lock comes first and in its own statement: PostgreSQL gives each
statement of a READ COMMITTED transaction a new snapshot, so the reads see
everything committed by whoever held the lock before. The SQL is written once
here (no per-request ORM compilation); rows become model instances with their
columns in the models' own field order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from books.models import Book, Partner
from coupons.models import Coupon, CouponState, assignment_expired_sql
from coupons.rows import (
    BOOK_COLUMNS,
    COUPON_AND_BOOK_SQL,
    COUPON_COLUMNS,
    book_from_row,
    coupon_with_book_from_row,
)
from couponsite.db import prepare_once
from couponsite.errors import NotFound
from couponsite.locks import LockKind, ensure_in_transaction, stable_key, stable_key_sql

# States that count towards a book's max_codes_per_user. A voided coupon does
# not: staff took it away, so the user may be given another.
HELD_STATES = (CouponState.ASSIGNED, CouponState.LOCKED, CouponState.REDEEMED)
_HELD_SQL = ", ".join(f"'{state.value}'" for state in HELD_STATES)


def held_count_sql(*, held: str, ttl: str) -> str:
    """The condition on coupon rows ``held`` that count towards their user's
    ``max_codes_per_user``: held, and not an assignment that has expired
    (which is nobody's). ``ttl`` is the book's TTL as SQL; the clock is
    ``%(now)s``."""
    expired = assignment_expired_sql(coupon=held, ttl=ttl, now="%(now)s")
    return f"{held}.state IN ({_HELD_SQL}) AND NOT {expired}"


COUPON_BY_ID_SQL = prepare_once(f"""
SELECT pg_advisory_xact_lock({stable_key_sql(LockKind.COUPON, "%(coupon_id)s")});
{COUPON_AND_BOOK_SQL} WHERE coupon.id = %(coupon_id)s FOR UPDATE OF coupon
""")

# The code is looked up in the lock statement too: one call finds, locks and reads.
COUPON_BY_CODE_SQL = prepare_once(f"""
SELECT pg_advisory_xact_lock({stable_key_sql(LockKind.COUPON, "id")})
FROM coupons_coupon WHERE partner_id = %(partner_id)s AND upper(code) = upper(%(code)s);
{COUPON_AND_BOOK_SQL} WHERE coupon.partner_id = %(partner_id)s AND upper(coupon.code) = upper(%(code)s)
FOR UPDATE OF coupon
""")  # noqa: S608 - columns from the models, values are parameters

# Assignment of a given code: the partner's user (shared: an erasure of the
# user excludes it), the book and user (as a random assignment of the same
# book and user takes them), then the coupon; with how many coupons of the
# book the user holds.
COUPON_TO_ASSIGN_SQL = prepare_once(f"""
SELECT pg_advisory_xact_lock_shared(%(user_lock_key)s);
SELECT pg_advisory_xact_lock_shared({stable_key_sql(LockKind.BOOK_ASSIGNMENTS, "book_id")})
FROM coupons_coupon WHERE partner_id = %(partner_id)s AND upper(code) = upper(%(code)s);
SELECT pg_advisory_xact_lock({stable_key_sql(LockKind.BOOK_USER, "book_id", "%(user_id)s")})
FROM coupons_coupon WHERE partner_id = %(partner_id)s AND upper(code) = upper(%(code)s);
SELECT pg_advisory_xact_lock({stable_key_sql(LockKind.COUPON, "id")})
FROM coupons_coupon WHERE partner_id = %(partner_id)s AND upper(code) = upper(%(code)s);
SELECT {COUPON_COLUMNS}, {BOOK_COLUMNS}, (
    SELECT count(*) FROM coupons_coupon held
    WHERE held.partner_id = coupon.partner_id AND held.user_id = %(user_id)s AND held.book_id = coupon.book_id
      AND {held_count_sql(held="held", ttl="book.assignment_ttl_seconds")}
)
FROM coupons_coupon coupon JOIN books_book book ON book.id = coupon.book_id
WHERE coupon.partner_id = %(partner_id)s AND upper(coupon.code) = upper(%(code)s) FOR UPDATE OF coupon
""")  # noqa: S608 - columns from the models, values are parameters

BOOK_FOR_ASSIGNMENT_SQL = prepare_once(f"""
SELECT pg_advisory_xact_lock_shared(%(user_lock_key)s);
SELECT pg_advisory_xact_lock_shared(%(book_lock_key)s);
SELECT pg_advisory_xact_lock(%(lock_key)s);
SELECT {BOOK_COLUMNS}, CASE WHEN book.max_codes_per_user IS NULL THEN 0 ELSE (
    SELECT count(*) FROM coupons_coupon held
    WHERE held.partner_id = book.partner_id AND held.user_id = %(user_id)s AND held.book_id = book.id
      AND {held_count_sql(held="held", ttl="book.assignment_ttl_seconds")}
) END
FROM books_book book WHERE book.id = %(book_id)s AND book.partner_id = %(partner_id)s
""")  # noqa: S608 - columns from the models


def coupon_for_update(*, coupon_id: int) -> Coupon:
    """Take the coupon's advisory lock, then read it (with its book) fresh and
    lock its row."""
    return _coupon_or_not_found(COUPON_BY_ID_SQL, {"coupon_id": coupon_id})


def coupon_for_update_by_code(*, partner: Partner, code: str) -> Coupon:
    """The partner's coupon with this code (any case), as ``coupon_for_update``."""
    return _coupon_or_not_found(COUPON_BY_CODE_SQL, {"partner_id": partner.pk, "code": code})


def coupon_to_assign(*, partner: Partner, code: str, user_id: str, now: datetime) -> tuple[Coupon, int]:
    """The coupon with this code under the partner's user's and the book's
    shared, the (book, user) and the coupon locks, and how many coupons of its
    book ``user_id`` holds at ``now``."""
    parameters = {
        "user_lock_key": stable_key(LockKind.PARTNER_USER, partner.pk, user_id),
        "partner_id": partner.pk,
        "code": code,
        "user_id": user_id,
        "now": now,
    }
    row = _locked_row(COUPON_TO_ASSIGN_SQL, parameters)
    if row is None:
        raise NotFound("No such coupon")
    return coupon_with_book_from_row(row), row[-1]


def book_for_assignment(*, partner: Partner, book_id: int, user_id: str, now: datetime) -> tuple[Book, int]:
    """The partner's book under the partner's user's and the book's shared
    locks and the (book, user) lock, and how many of its coupons ``user_id``
    holds at ``now`` (0 when the book sets no limit)."""
    parameters = {
        "user_lock_key": stable_key(LockKind.PARTNER_USER, partner.pk, user_id),
        "book_lock_key": stable_key(LockKind.BOOK_ASSIGNMENTS, book_id),
        "lock_key": stable_key(LockKind.BOOK_USER, book_id, user_id),
        "now": now,
        "book_id": book_id,
        "partner_id": partner.pk,
        "user_id": user_id,
    }
    row = _locked_row(BOOK_FOR_ASSIGNMENT_SQL, parameters)
    if row is None:
        raise NotFound("No such book")
    return book_from_row(row), row[-1]


BOOK_FOR_BATCH_SQL = f"""
SELECT pg_advisory_xact_lock_shared(%(batches_lock_key)s);
SELECT pg_advisory_xact_lock(%(book_lock_key)s);
SELECT {BOOK_COLUMNS} FROM books_book book WHERE book.id = %(book_id)s AND book.partner_id = %(partner_id)s
"""  # noqa: S608 - columns from the models


def book_for_batch_assignment(*, partner: Partner, book_id: int) -> Book:
    """The partner's book under its exclusive assignments lock (after the
    partner's batches lock, shared): no single assignment of the book runs
    until the transaction ends."""
    parameters = {
        "batches_lock_key": stable_key(LockKind.PARTNER_BATCHES, partner.pk),
        "book_lock_key": stable_key(LockKind.BOOK_ASSIGNMENTS, book_id),
        "book_id": book_id,
        "partner_id": partner.pk,
    }
    row = _locked_row(BOOK_FOR_BATCH_SQL, parameters)
    if row is None:
        raise NotFound("No such book")
    return book_from_row(row)


def _coupon_or_not_found(sql: str, parameters: dict[str, Any]) -> Coupon:
    row = _locked_row(sql, parameters)
    if row is None:
        raise NotFound("No such coupon")
    return coupon_with_book_from_row(row)


def _locked_row(sql: str, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
    """The one row of the last statement of ``sql``, whose first statements lock."""
    ensure_in_transaction()
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        while cursor.nextset():
            pass
        return cursor.fetchone()
