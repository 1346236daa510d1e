"""Limits hold when many requests race on real PostgreSQL connections."""

import collections

import pytest

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponState
from coupons.services import coupon_assign_code
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.errors import (
    CouponRedeemed,
)
from couponsite.tests.racing import race
from redemptions.models import Redemption
from redemptions.services import coupon_redeem

pytestmark = [pytest.mark.races, pytest.mark.django_db(transaction=True)]
ACTOR = Actor.api_key("racer")
THREADS = 24


def outcomes(results) -> collections.Counter:
    return collections.Counter(type(r).__name__ for r in results)


@pytest.mark.parametrize("uses", [1, 4])
def test_40_racing_redemptions_succeed_exactly_as_often_as_allowed(uses):
    book = BookFactory(max_redemptions_per_coupon=uses)
    (coupon,) = make_coupons(book, 1)
    coupon_assign_code(partner=book.partner, code=coupon.code, user_id="alice", actor=ACTOR)

    results = race(
        lambda _: coupon_redeem(partner=book.partner, code=coupon.code, user_id="alice", actor=ACTOR),
        times=40,
        workers=THREADS,
    )

    assert outcomes(results) == {"tuple": uses, "CouponRedeemed": 40 - uses}
    assert all(isinstance(r, (tuple, CouponRedeemed)) for r in results)
    stored = Coupon.objects.get(pk=coupon.pk)
    assert (stored.state, stored.redemption_count) == (CouponState.REDEEMED, uses)
    assert Redemption.objects.filter(coupon=coupon).count() == uses
