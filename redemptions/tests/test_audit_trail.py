"""Every path that changes a coupon writes exactly one event per change: the
audit trail of each coupon chains from 'available' to its state, and counts
its uses (coupons/tests/audit.py)."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent
from coupons.services import (
    coupon_assign_code,
    coupon_assign_random,
    coupon_lock,
    coupon_release_lock,
    coupon_unlock,
    coupon_void,
    locks_release_expired,
)
from coupons.tests.audit import assert_audit_trail_matches_the_coupons
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.tests.racing import race
from redemptions.services import coupon_redeem, redemption_rollback

ACTOR = Actor.system("test")


def expire_every_lock() -> None:
    Coupon.objects.filter(state="locked").update(locked_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_each_single_coupon_path_writes_one_event_per_change():
    book = BookFactory(max_redemptions_per_coupon=3)
    coupons = make_coupons(book, 8)
    partner = book.partner
    code = coupons[0].code

    coupon_assign_code(partner=partner, code=code, user_id="u", actor=ACTOR)
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="random", actor=ACTOR)
    lock_id = coupon_lock(partner=partner, code=code, user_id="u", actor=ACTOR).lock_id
    coupon_unlock(partner=partner, code=code, user_id="u", lock_id=lock_id, actor=ACTOR)
    lock_id = coupon_lock(partner=partner, code=code, user_id="u", actor=ACTOR).lock_id
    _, first = coupon_redeem(partner=partner, code=code, user_id="u", lock_id=lock_id, actor=ACTOR)
    coupon_lock(partner=partner, code=code, user_id="u", actor=ACTOR)
    expire_every_lock()
    coupon_redeem(partner=partner, code=code, user_id="u", lock_id=uuid.uuid4(), actor=ACTOR)  # expiry found
    coupon_lock(partner=partner, code=code, user_id="u", actor=ACTOR)
    redemption_rollback(partner=partner, redemption_id=first.pk, actor=ACTOR)  # while locked
    coupon_release_lock(coupon=coupons[0], actor=ACTOR)
    coupon_redeem(partner=partner, code=code, user_id="u", actor=ACTOR)
    coupon_redeem(partner=partner, code=code, user_id="u", actor=ACTOR)  # the last use
    coupon_void(coupon=Coupon.objects.filter(book=book, state="available").first(), actor=ACTOR)

    assert CouponEvent.objects.count() == 15
    assert_audit_trail_matches_the_coupons(book)


@pytest.mark.django_db
def test_the_set_based_expiry_writes_one_event_per_released_lock():
    book = BookFactory()
    coupons = make_coupons(book, 30)
    for coupon in coupons[:25]:
        coupon_assign_code(partner=book.partner, code=coupon.code, user_id=coupon.code, actor=ACTOR)
        coupon_lock(partner=book.partner, code=coupon.code, user_id=coupon.code, actor=ACTOR)
    expire_every_lock()

    assert locks_release_expired(batch_size=7) == 25

    assert CouponEvent.objects.filter(action="lock_expired").count() == 25
    assert_audit_trail_matches_the_coupons(book)


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_racing_paths_keep_the_trail_whole():
    book = BookFactory(max_redemptions_per_coupon=2, max_codes_per_user=None)
    make_coupons(book, 20)
    # The test moves the clock with a plain UPDATE of every locked row, which
    # two threads at once could deadlock on (no service locks rows that way).
    clock = threading.Lock()

    def step(i: int) -> None:
        user = f"u{i % 5}"
        coupon = coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=user, actor=ACTOR)
        lock_id = coupon_lock(partner=book.partner, code=coupon.code, user_id=user, actor=ACTOR).lock_id
        if i % 2:
            coupon_redeem(partner=book.partner, code=coupon.code, user_id=user, lock_id=lock_id, actor=ACTOR)
        if i % 3 == 0:
            with clock:
                expire_every_lock()
            locks_release_expired()

    results = race(step, times=20, workers=10)

    assert [r for r in results if r is not None] == []
    assert_audit_trail_matches_the_coupons(book)
