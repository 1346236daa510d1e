"""Giving back and expiring assignments, where a use was taken: the rules
that read redemptions (unassign is refused, expiry does not apply)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponState
from coupons.services import assignments_release_expired, coupon_assign_code, coupon_unassign
from coupons.tests.factories import make_coupons
from couponsite.errors import CouponInUse, CouponNotHeld
from redemptions.services import coupon_redeem, redemption_rollback

pytestmark = pytest.mark.django_db


def assigned(actor, *, user_id="alice", **book_fields) -> Coupon:
    book = BookFactory(**book_fields)
    (coupon,) = make_coupons(book, 1)
    return coupon_assign_code(partner=book.partner, code=coupon.code, user_id=user_id, actor=actor)


def unassign(coupon: Coupon, actor, user_id="alice") -> Coupon:
    return coupon_unassign(partner=coupon.partner, code=coupon.code, user_id=user_id, actor=actor)


def test_a_coupon_with_a_use_taken_is_in_use(actor):
    coupon = assigned(actor, max_redemptions_per_coupon=3)
    coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)

    with pytest.raises(CouponInUse):
        unassign(coupon, actor)
    assert Coupon.objects.get(pk=coupon.pk).state == CouponState.ASSIGNED


def test_a_fully_redeemed_coupon_is_in_use(actor):
    coupon = assigned(actor)
    coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)

    with pytest.raises(CouponInUse):
        unassign(coupon, actor)


def test_a_coupon_whose_only_use_was_rolled_back_can_be_given_back(actor):
    coupon = assigned(actor)
    _, redemption = coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)
    redemption_rollback(partner=coupon.partner, redemption_id=redemption.pk, actor=actor)

    assert unassign(coupon, actor).state == CouponState.AVAILABLE


def test_a_used_coupon_never_expires_and_its_holder_keeps_it(actor):
    coupon = assigned(actor, assignment_ttl_seconds=60, max_redemptions_per_coupon=3)
    coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)
    Coupon.objects.filter(pk=coupon.pk).update(assigned_at=timezone.now() - timedelta(seconds=61))

    assert assignments_release_expired() == 0
    coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)
    assert Coupon.objects.get(pk=coupon.pk).redemption_count == 2


def test_redeeming_an_expired_assignment_is_not_held(actor):
    coupon = assigned(actor, assignment_ttl_seconds=60)
    Coupon.objects.filter(pk=coupon.pk).update(assigned_at=timezone.now() - timedelta(seconds=61))

    with pytest.raises(CouponNotHeld):
        coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)
    assert Coupon.objects.get(pk=coupon.pk).redemption_count == 0
