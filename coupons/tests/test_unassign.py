"""Giving a coupon back: unassign returns an unused coupon to the pool."""

import pytest
from django.db import connection

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.services import coupon_assign_code, coupon_assign_random, coupon_lock, coupon_unassign, coupon_void
from coupons.tests.audit import assert_audit_trail_matches_the_coupons
from coupons.tests.factories import expire, make_coupons
from couponsite.actors import Actor
from couponsite.errors import CouponLocked, CouponNotHeld, CouponVoid, NotFound

pytestmark = pytest.mark.django_db


def assigned(actor, *, user_id="alice", **book_fields) -> Coupon:
    book = BookFactory(**book_fields)
    (coupon,) = make_coupons(book, 1)
    return coupon_assign_code(partner=book.partner, code=coupon.code, user_id=user_id, actor=actor)


def draw(book, user_id: str, actor) -> Coupon:
    return coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=user_id, actor=actor)


def unassign(coupon: Coupon, actor, user_id="alice") -> Coupon:
    return coupon_unassign(partner=coupon.partner, code=coupon.code, user_id=user_id, actor=actor)


def test_an_unused_coupon_given_back_is_available_with_an_unassign_event_naming_its_user(actor):
    coupon = assigned(actor)

    returned = unassign(coupon, actor)

    assert (returned.state, returned.user_id, returned.assigned_at) == (CouponState.AVAILABLE, None, None)
    stored = Coupon.objects.get(pk=coupon.pk)
    assert (stored.state, stored.user_id, stored.assigned_at) == (CouponState.AVAILABLE, None, None)
    event = CouponEvent.objects.filter(coupon=coupon).latest("id")
    assert (event.action, event.from_state, event.to_state) == ("unassign", "assigned", "available")
    assert (event.user_id, event.actor_kind, event.actor_id) == ("alice", "api_key", "testkey")


def test_a_coupon_given_back_can_be_given_to_another_user_and_frees_the_limit(actor):
    coupon = assigned(actor, max_codes_per_user=1)
    book = coupon.book
    unassign(coupon, actor)

    again = coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)

    assert again.code == coupon.code  # the only coupon of the book


def test_a_locked_coupon_is_refused_until_unlocked_and_an_expired_lock_is_released_first(actor):
    coupon = assigned(actor)
    coupon_lock(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)

    with pytest.raises(CouponLocked):
        unassign(coupon, actor)

    expire(coupon)
    unassign(coupon, actor)
    actions = list(CouponEvent.objects.filter(coupon=coupon).order_by("id").values_list("action", flat=True))
    assert actions == ["assign", "lock", "lock_expired", "unassign"]
    assert_audit_trail_matches_the_coupons(coupon.book)


def test_another_users_coupon_is_not_held_and_an_unknown_code_not_found(actor):
    coupon = assigned(actor)

    with pytest.raises(CouponNotHeld):
        unassign(coupon, actor, user_id="mallory")
    with pytest.raises(NotFound):
        coupon_unassign(partner=coupon.partner, code="NO-SUCH-CODE", user_id="alice", actor=actor)
    assert Coupon.objects.get(pk=coupon.pk).user_id == "alice"


def test_an_available_coupon_is_not_held_and_a_void_one_is_void(actor):
    book = BookFactory()
    (available,) = make_coupons(book, 1)
    with pytest.raises(CouponNotHeld):
        unassign(available, actor)

    coupon = assigned(actor)
    coupon_void(coupon=coupon, actor=Actor.system("staff-test"))
    with pytest.raises(CouponVoid):
        unassign(coupon, actor)


def test_the_returned_coupon_gets_a_new_key_above_the_books_watermark(actor):
    book = BookFactory()
    make_coupons(book, 20)
    taken = [
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"u{i}", actor=actor) for i in range(5)
    ]
    returned = taken[2]
    old_key = Coupon.objects.get(pk=returned.pk).sort_key
    watermark = max(Coupon.objects.get(pk=c.pk).sort_key for c in taken)

    unassign(returned, actor, user_id="u2")

    new_key = Coupon.objects.get(pk=returned.pk).sort_key
    assert new_key != old_key
    assert new_key > watermark


def test_returns_of_many_coupons_draw_a_key_each(actor):
    book = BookFactory()
    make_coupons(book, 30)
    taken = [
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"u{i}", actor=actor) for i in range(20)
    ]
    for i, coupon in enumerate(taken):
        unassign(coupon, actor, user_id=f"u{i}")

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT sort_key) FROM coupons_coupon WHERE book_id = %s", [book.pk])
        assert cursor.fetchone()[0] == 30
