"""The events table's migration on rows recorded before it: each old event
gets its coupon's partner and book, nothing else of it changes, and the
table is append-only again afterwards."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from coupons.tests.factories import CouponFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("coupons", "0007_unassign_and_assignment_expiry")]
OLD_EVENT = """
INSERT INTO coupons_couponevent (coupon_id, action, from_state, to_state, user_id, actor_kind, actor_id, request_id,
                                 created_at)
VALUES (%s, 'void', 'available', 'void', NULL, 'staff', '1', 'r1', now()) RETURNING id
"""


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_old_events_get_their_partner_and_book_and_keep_the_rest():
    coupons = [CouponFactory() for _ in range(3)]
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            old_ids = []
            for coupon in coupons:
                cursor.execute(OLD_EVENT, [coupon.pk])
                old_ids.append(cursor.fetchone()[0])
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coupon_id, partner_id, book_id, action, actor_id, request_id, data, transaction_id "
            "FROM coupons_couponevent WHERE id = ANY(%s) ORDER BY id",
            [old_ids],
        )
        rows = cursor.fetchall()
    assert rows == [(c.pk, c.partner_id, c.book_id, "void", "1", "r1", None, None) for c in coupons]
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE coupons_couponevent SET request_id = 'forged' WHERE id = %s", [old_ids[0]])
