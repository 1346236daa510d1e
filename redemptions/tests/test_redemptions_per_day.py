from datetime import date

import pytest

from books.tests.factories import BookFactory
from coupons.services import coupon_assign_code
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from redemptions.selectors import redemptions_per_day
from redemptions.services import coupon_redeem, redemption_rollback


@pytest.mark.django_db
def test_redemptions_per_day_counts_kept_redemptions_of_the_book_only():
    book, other_book = BookFactory(max_redemptions_per_coupon=None), BookFactory()
    make_coupons(book, 1)
    make_coupons(other_book, 1)
    actor = Actor.system("test")
    for b in (book, other_book):
        coupon_assign_code(partner=b.partner, code=f"C{b.pk}-0000000", user_id="u1", actor=actor)
    code = f"C{book.pk}-0000000"
    coupon_redeem(partner=book.partner, code=code, user_id="u1", actor=actor)
    _, undone = coupon_redeem(partner=book.partner, code=code, user_id="u1", actor=actor)
    coupon_redeem(partner=other_book.partner, code=f"C{other_book.pk}-0000000", user_id="u1", actor=actor)
    redemption_rollback(partner=book.partner, redemption_id=undone.pk, actor=actor)

    series = redemptions_per_day(book=book)

    assert len(series) == 30
    assert series[-1] == (date.today(), 1)
    assert sum(count for _, count in series) == 1
