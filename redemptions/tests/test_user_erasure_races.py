"""Erasures racing the user's own traffic on real connections: no row naming
the user from before an erasure survives it, and the counts stay exact.

An assignment either commits before the erasure takes its locks (and is
rewritten with the rest) or waits for it and gives a coupon to a new user of
that id; a redeem of a coupon the user held either commits first (its
redemption and event rewritten) or waits on the coupon's row and finds it no
longer the user's.
"""

import collections

import pytest
from django.db.models import Max, Min

from books.tests.factories import BookFactory
from coupons.batch_assignment import coupons_assign_batch
from coupons.event_types import EventAction
from coupons.models import Coupon, CouponEvent
from coupons.services import coupon_assign_code, coupon_assign_random
from coupons.tests.audit import assert_audit_trail_matches_the_coupons
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.errors import CouponNotHeld
from couponsite.tests.racing import race
from redemptions.erasure import UserErasure, user_erase
from redemptions.models import Redemption
from redemptions.services import coupon_redeem

pytestmark = [pytest.mark.races, pytest.mark.django_db(transaction=True)]
ACTOR = Actor.api_key("racer")
USER = "alice"


def test_assignments_racing_erasures_leave_no_row_of_the_user_from_before_the_last_one():
    first = BookFactory()
    second = BookFactory(partner=first.partner)
    make_coupons(first, 100)
    codes = [c.code for c in make_coupons(second, 100, prefix="S")]
    partner = first.partner

    def task(i: int):
        match i % 8:
            case 0:
                return user_erase(partner=partner, user_id=USER, actor=ACTOR)
            case 1 | 3 | 5:
                return coupon_assign_random(partner=partner, book_id=first.pk, user_id=USER, actor=ACTOR)
            case 2 | 6:
                return coupon_assign_code(partner=partner, code=codes[i], user_id=USER, actor=ACTOR)
            case _:
                results = coupons_assign_batch(partner=partner, book_id=first.pk, user_ids=[f"u{i}", USER], actor=ACTOR)
                return results[1]

    results = race(task, times=64, workers=16)

    kinds = collections.Counter(type(r).__name__ for r in results)
    assert kinds == {"Coupon": 56, "UserErasure": 8}, kinds
    erasures = [r for r in results if isinstance(r, UserErasure)]
    pseudonyms = [e.pseudonym for e in erasures]
    # Every coupon handed to the user is its own or one pseudonym's, exactly once.
    assert Coupon.objects.filter(partner=partner, user_id__in=[USER, *pseudonyms]).count() == 56
    for erasure in erasures:
        assert Coupon.objects.filter(user_id=erasure.pseudonym).count() == erasure.coupons
        assert CouponEvent.objects.filter(user_id=erasure.pseudonym, coupon__isnull=False).count() == erasure.events
        assert erasure.events == erasure.coupons
    assert sum(e.coupons for e in erasures) + Coupon.objects.filter(user_id=USER).count() == 56
    # What still names the user was written after the last erasure: a new user of that id.
    last_erasure = CouponEvent.objects.filter(action=EventAction.USER_ERASED).aggregate(last=Max("id"))["last"]
    first_naming = CouponEvent.objects.filter(partner=partner, user_id=USER).aggregate(first=Min("id"))["first"]
    assert first_naming is None or first_naming > last_erasure
    # The batches' other users: untouched.
    assert Coupon.objects.filter(partner=partner, user_id__startswith="u").count() == 16
    assert CouponEvent.objects.filter(partner=partner, action=EventAction.ASSIGN).count() == 56 + 16
    assert_audit_trail_matches_the_coupons(first, second)


def test_redeems_racing_an_erasure_are_all_rewritten_or_find_the_coupon_no_longer_held():
    book = BookFactory(max_redemptions_per_coupon=None)
    make_coupons(book, 8)
    partner = book.partner
    held = [coupon_assign_random(partner=partner, book_id=book.pk, user_id=USER, actor=ACTOR).code for _ in range(8)]

    def task(i: int):
        if i == 20:
            return user_erase(partner=partner, user_id=USER, actor=ACTOR)
        return coupon_redeem(partner=partner, code=held[i % 8], user_id=USER, metadata={"by": USER}, actor=ACTOR)

    results = race(task, times=40, workers=16)

    (erasure,) = [r for r in results if isinstance(r, UserErasure)]
    redeemed = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, CouponNotHeld)]
    assert len(redeemed) + len(refused) == 39
    assert not Redemption.objects.filter(user_id=USER).exists()
    assert not Redemption.objects.filter(metadata__by=USER).exists()
    assert Redemption.objects.filter(user_id=erasure.pseudonym, metadata__by=erasure.pseudonym).count() == len(redeemed)
    assert erasure.redemptions == len(redeemed)
    assert erasure.events == 8 + len(redeemed)
    assert erasure.coupons == 8
    assert not CouponEvent.objects.filter(partner=partner, user_id=USER).exists()
    assert_audit_trail_matches_the_coupons(book)
