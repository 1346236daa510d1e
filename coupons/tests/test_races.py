"""Limits hold when many requests race on real PostgreSQL connections."""

import collections

import pytest

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.services import coupon_assign_code, coupon_assign_random, coupon_lock
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.errors import (
    AssignmentLimitReached,
    BookExhausted,
    CouponLocked,
    CouponUnavailable,
)
from couponsite.tests.racing import race

pytestmark = [pytest.mark.races, pytest.mark.django_db(transaction=True)]
ACTOR = Actor.api_key("racer")
THREADS = 24


def outcomes(results) -> collections.Counter:
    return collections.Counter(type(r).__name__ for r in results)


def test_400_random_assignments_on_a_200_code_book_hand_out_each_code_once():
    book = BookFactory()
    make_coupons(book, 200)

    results = race(
        lambda i: coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"user-{i}", actor=ACTOR),
        times=400,
        workers=THREADS,
    )

    winners = [r for r in results if isinstance(r, Coupon)]
    assert outcomes(results) == {"Coupon": 200, "BookExhausted": 200}
    assert all(isinstance(r, BookExhausted) for r in results if not isinstance(r, Coupon))
    assert len({c.pk for c in winners}) == 200
    assert Coupon.objects.filter(book=book, state=CouponState.ASSIGNED).count() == 200
    assert Coupon.objects.filter(book=book).values("user_id").distinct().count() == 200
    assert CouponEvent.objects.filter(coupon__book=book, action="assign").count() == 200


def test_a_user_racing_48_mixed_assignments_gets_exactly_the_limit():
    book = BookFactory(max_codes_per_user=3)
    coupons = make_coupons(book, 60)

    def assign(i: int):
        if i % 2:
            return coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="greedy", actor=ACTOR)
        return coupon_assign_code(partner=book.partner, code=coupons[i].code, user_id="greedy", actor=ACTOR)

    results = race(assign, times=48, workers=THREADS)

    # A specific code may meet CouponUnavailable when a random pick of the same
    # race took that very code first; either way, only three succeed.
    assert outcomes(results)["Coupon"] == 3
    assert all(isinstance(r, (Coupon, AssignmentLimitReached, CouponUnavailable)) for r in results)
    assert outcomes(results)["AssignmentLimitReached"] >= 45 - 3
    assert Coupon.objects.filter(book=book, user_id="greedy").count() == 3


def test_racing_locks_have_exactly_one_winner():
    book = BookFactory()
    (coupon,) = make_coupons(book, 1)
    coupon_assign_code(partner=book.partner, code=coupon.code, user_id="alice", actor=ACTOR)

    results = race(
        lambda _: coupon_lock(partner=book.partner, code=coupon.code, user_id="alice", actor=ACTOR),
        times=THREADS,
    )

    assert outcomes(results) == {"Coupon": 1, "CouponLocked": THREADS - 1}
    assert all(isinstance(r, (Coupon, CouponLocked)) for r in results)
    (winner,) = [r for r in results if isinstance(r, Coupon)]
    assert Coupon.objects.get(pk=coupon.pk).lock_id == winner.lock_id
