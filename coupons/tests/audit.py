"""The audit trail agrees with the coupons it records: the test of "one event
per transition", whichever path made the change (one coupon through the
services, or many in one statement)."""

from __future__ import annotations

from django.db import connection

from books.models import Book

# For each coupon: its events, oldest first, form an unbroken chain from
# 'available' to the state it is in now; and its use count is its redeem events
# less its rollback events. Rows returned are the coupons where that fails.
BROKEN_TRAIL_SQL = """
WITH trail AS (
    SELECT coupon_id, action, from_state, to_state,
           lag(to_state, 1, 'available') OVER (PARTITION BY coupon_id ORDER BY id) AS state_before,
           row_number() OVER (PARTITION BY coupon_id ORDER BY id DESC) AS from_last
    FROM coupons_couponevent
    WHERE coupon_id IN (SELECT id FROM coupons_coupon WHERE book_id = ANY(%(books)s))
), per_coupon AS (
    SELECT coupon_id,
           bool_and(from_state = state_before) AS linked,
           max(to_state) FILTER (WHERE from_last = 1) AS last_state,
           count(*) FILTER (WHERE action = 'redeem') - count(*) FILTER (WHERE action = 'rollback') AS uses
    FROM trail GROUP BY coupon_id
)
SELECT coupon.code, coupon.state, coupon.redemption_count, per_coupon.linked, per_coupon.last_state, per_coupon.uses
FROM coupons_coupon coupon LEFT JOIN per_coupon ON per_coupon.coupon_id = coupon.id
WHERE coupon.book_id = ANY(%(books)s) AND (NOT coalesce(per_coupon.linked, true)
   OR coalesce(per_coupon.last_state, 'available') <> coupon.state
   OR coalesce(per_coupon.uses, 0) <> coupon.redemption_count)
ORDER BY coupon.code
"""


def assert_audit_trail_matches_the_coupons(*books: Book) -> None:
    """For every coupon of ``books``."""
    with connection.cursor() as cursor:
        cursor.execute(BROKEN_TRAIL_SQL, {"books": [book.pk for book in books]})
        broken = cursor.fetchall()
    assert broken == [], f"coupons whose events do not match them (code, state, uses, linked, last, uses): {broken}"
