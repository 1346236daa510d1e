"""The random pick reads the partial index of available coupons, in its own
order (sort_key, id), so that its cost does not grow with the coupons already
assigned: with (book, sort_key) alone, a plan made while every coupon of the
table was available took the full sort-key index and walked every assigned
coupon at each pick, as a prepared statement's generic plan and as a plan
made for the book alike."""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.lifecycle import event_parameters
from coupons.services import ASSIGN, ASSIGN_NEXT_SQL, coupon_assign_random
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.postgres.base import Preparation

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = Actor.system("test")


def plans_of_the_pick(book) -> dict[str, str]:
    """EXPLAIN of the pick as the backend runs it (a prepared statement's
    generic plan) and as one planned for the book, on fresh statistics of a
    table where every coupon is available."""
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="first", actor=SYSTEM)  # prepares it
    now = timezone.now()
    parameters = {"book_id": book.pk, "user_id": "planned", "at": now, "now": now}
    parameters.update(event_parameters(transition=ASSIGN, actor=SYSTEM))
    plans = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE coupons_coupon")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("EXPLAIN " + cursor.cursor.mogrify(Preparation.of(ASSIGN_NEXT_SQL).execute, parameters))
        plans["generic"] = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        cursor.execute("EXPLAIN " + ASSIGN_NEXT_SQL, parameters)
        plans["for the book"] = "\n".join(row[0] for row in cursor.fetchall())
    return plans


def test_every_plan_of_the_pick_reads_the_index_in_its_order():
    book = BookFactory()
    make_coupons(book, 5000)

    plans = plans_of_the_pick(book)

    assert connection.preparation(ASSIGN_NEXT_SQL) is not None
    for kind, plan in plans.items():
        assert "coupon_pick_order_idx" in plan, (kind, plan)
