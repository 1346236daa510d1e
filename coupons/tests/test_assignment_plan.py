"""The random pick reads the partial index of available coupons, so that its
cost does not grow with the coupons already assigned (a plan for any book,
as a prepared statement's generic plan, took the full sort-key index and
walked every assigned coupon at each pick)."""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.lifecycle import event_parameters
from coupons.services import ASSIGN, ASSIGN_NEXT_SQL, coupon_assign_random
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def test_the_pick_reads_the_partial_index_of_available_coupons_after_many_assignments():
    book = BookFactory()
    make_coupons(book, 3000)
    for n in range(300):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"u{n}", actor=SYSTEM)
    now = timezone.now()
    parameters = {"book_id": book.pk, "user_id": "planned", "at": now, "now": now}
    parameters.update(event_parameters(transition=ASSIGN, actor=SYSTEM))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE coupons_coupon")
        cursor.execute("EXPLAIN " + ASSIGN_NEXT_SQL, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "coupon_available_pick_idx" in plan, plan
    # Planned for its book at every call: never a prepared statement's generic plan.
    assert connection.preparation(ASSIGN_NEXT_SQL) is None
