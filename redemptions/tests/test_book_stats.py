from datetime import timedelta

import pytest
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.services import coupon_assign_random
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from redemptions.selectors import book_stats
from redemptions.services import coupon_redeem

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def assign(book, count: int) -> list[str]:
    return [
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"u{i}", actor=ACTOR).code
        for i in range(count)
    ]


def test_the_days_are_zero_filled_oldest_first_and_count_this_books_assignments_and_redemptions():
    book, other = BookFactory(max_codes_per_user=None), BookFactory()
    make_coupons(book, 50)
    make_coupons(other, 5)
    codes = assign(book, 7)
    assign(other, 3)
    coupon_redeem(partner=book.partner, code=codes[0], user_id="u0", actor=ACTOR)
    two_days_on = timezone.now() + timedelta(days=2)

    stats = book_stats(book=book, days=5, now=two_days_on)

    assert [day.day for day in stats.days] == [two_days_on.date() - timedelta(days=n) for n in (4, 3, 2, 1, 0)]
    assert [(day.assignments, day.redemptions) for day in stats.days] == [(0, 0), (0, 0), (7, 1), (0, 0), (0, 0)]
    assert stats.counts == {"available": 43, "assigned": 6, "locked": 0, "redeemed": 1, "void": 0, "total": 50}


def test_days_left_is_what_is_available_at_the_last_seven_days_rate():
    book = BookFactory(max_codes_per_user=None)
    make_coupons(book, 100)
    assign(book, 14)  # 2 a day over 7 days; 86 left

    assert book_stats(book=book).days_left == 43.0
    # Eight days on, nothing was assigned in the last seven.
    assert book_stats(book=book, now=timezone.now() + timedelta(days=8)).days_left is None
