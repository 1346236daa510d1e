import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponState
from coupons.services import coupon_assign_code, coupon_lock, coupon_void
from coupons.tests.factories import CouponFactory
from couponsite.actors import Actor
from couponsite.errors import CouponVoid, NotFound, RedemptionRolledBack
from redemptions.services import coupon_redeem, redemption_rollback

pytestmark = pytest.mark.django_db
ACTOR = Actor.api_key("testkey")


def assigned(max_redemptions=1):
    coupon = CouponFactory(book=BookFactory(max_redemptions_per_coupon=max_redemptions))
    coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="alice", actor=ACTOR)
    return coupon


def redeem(coupon, lock_id=None):
    return coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", lock_id=lock_id, actor=ACTOR)


def rollback(coupon, redemption, reason=""):
    return redemption_rollback(partner=coupon.partner, redemption_id=redemption.pk, reason=reason, actor=ACTOR)


def test_rollback_gives_the_use_back_and_keeps_history():
    coupon = assigned()
    _, redemption = redeem(coupon)

    restored = rollback(coupon, redemption, reason="order cancelled")

    assert restored.state == CouponState.ASSIGNED
    assert restored.redemption_count == 0
    redemption.refresh_from_db()
    assert redemption.is_rolled_back and redemption.rollback_reason == "order cancelled"
    assert list(restored.events.values_list("action", "from_state", "to_state")) == [
        ("assign", "available", "assigned"),
        ("redeem", "assigned", "redeemed"),
        ("rollback", "redeemed", "assigned"),
    ]
    assert redeem(coupon)[0].state == CouponState.REDEEMED


def test_rollback_happens_once():
    coupon = assigned()
    _, redemption = redeem(coupon)
    rollback(coupon, redemption)

    with pytest.raises(RedemptionRolledBack):
        rollback(coupon, redemption)
    assert Coupon.objects.get(pk=coupon.pk).redemption_count == 0


def test_rollback_of_a_multi_use_coupon_returns_one_use():
    coupon = assigned(max_redemptions=3)
    _, first = redeem(coupon)
    redeem(coupon)

    restored = rollback(coupon, first)

    assert (restored.state, restored.redemption_count) == (CouponState.ASSIGNED, 1)


def test_rollback_while_locked_leaves_the_lock_in_place():
    coupon = assigned(max_redemptions=2)
    _, redemption = redeem(coupon)
    locked = coupon_lock(partner=coupon.partner, code=coupon.code, user_id="alice", actor=ACTOR)

    restored = rollback(coupon, redemption)

    assert restored.state == CouponState.LOCKED
    assert restored.lock_id == locked.lock_id
    assert restored.redemption_count == 0


def test_rollback_after_the_lock_expired_releases_it_first():
    coupon = assigned(max_redemptions=2)
    _, redemption = redeem(coupon)
    coupon_lock(partner=coupon.partner, code=coupon.code, user_id="alice", actor=ACTOR)
    Coupon.objects.filter(pk=coupon.pk).update(locked_until=timezone.now() - timedelta(seconds=1))

    restored = rollback(coupon, redemption)

    assert restored.state == CouponState.ASSIGNED
    assert list(restored.events.values_list("action", flat=True))[-2:] == ["lock_expired", "rollback"]


def test_rollback_of_a_void_coupon_is_refused():
    coupon = assigned(max_redemptions=2)
    _, redemption = redeem(coupon)
    coupon_void(coupon=coupon, actor=Actor.staff(1))

    with pytest.raises(CouponVoid):
        rollback(coupon, redemption)


def test_another_partners_redemption_is_not_found():
    coupon = assigned()
    _, redemption = redeem(coupon)
    stranger = BookFactory().partner

    with pytest.raises(NotFound):
        redemption_rollback(partner=stranger, redemption_id=redemption.pk, actor=ACTOR)
    with pytest.raises(NotFound):
        redemption_rollback(partner=coupon.partner, redemption_id=uuid.uuid4(), actor=ACTOR)
