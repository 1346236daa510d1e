from datetime import timedelta

import pytest
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.services import coupon_assign_code, coupon_assign_random, coupon_void
from coupons.tests.factories import CouponFactory, make_coupons
from couponsite.errors import (
    AssignmentLimitReached,
    BookExhausted,
    BookInactive,
    CouponUnavailable,
    InvalidInput,
    NotFound,
)

pytestmark = pytest.mark.django_db


def test_random_assignment_gives_the_available_coupon_with_the_lowest_sort_key(book, actor):
    coupons = make_coupons(book, 5)
    lowest = min(coupons, key=lambda c: c.sort_key)

    coupon = coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)

    assert coupon.pk == lowest.pk
    assert coupon.state == CouponState.ASSIGNED
    assert coupon.user_id == "alice"
    assert coupon.assigned_at is not None


def test_assignment_writes_one_event_naming_the_actor(stocked_book, actor):
    coupon = coupon_assign_random(partner=stocked_book.partner, book_id=stocked_book.pk, user_id="alice", actor=actor)

    (event,) = CouponEvent.objects.filter(coupon=coupon)
    assert (event.action, event.from_state, event.to_state) == ("assign", "available", "assigned")
    assert (event.actor_kind, event.actor_id, event.user_id) == ("api_key", "testkey", "alice")


def test_empty_book_is_exhausted(book, actor):
    with pytest.raises(BookExhausted):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)


def test_voided_coupons_are_never_handed_out(book, actor):
    (only,) = make_coupons(book, 1)
    coupon_void(coupon=only, actor=actor)

    with pytest.raises(BookExhausted):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)


@pytest.mark.parametrize(
    "book_fields",
    [
        {"is_active": False},
        {"valid_from": timezone.now() + timedelta(days=1)},
        {"valid_until": timezone.now() - timedelta(seconds=1)},
    ],
    ids=["inactive", "not-yet-valid", "expired"],
)
def test_closed_book_refuses_assignment(book_fields, actor):
    book = BookFactory(**book_fields)
    (coupon,) = make_coupons(book, 1)

    with pytest.raises(BookInactive):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)
    with pytest.raises(BookInactive):
        coupon_assign_code(partner=book.partner, code=coupon.code, user_id="alice", actor=actor)
    assert Coupon.objects.get(pk=coupon.pk).state == CouponState.AVAILABLE


def test_user_limit_counts_random_and_specific_assignments(actor):
    book = BookFactory(max_codes_per_user=2)
    first, _, _ = make_coupons(book, 3)
    coupon_assign_code(partner=book.partner, code=first.code, user_id="alice", actor=actor)
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)

    with pytest.raises(AssignmentLimitReached):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)
    remaining = Coupon.objects.get(book=book, state=CouponState.AVAILABLE)
    with pytest.raises(AssignmentLimitReached):
        coupon_assign_code(partner=book.partner, code=remaining.code, user_id="alice", actor=actor)
    assert coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="bob", actor=actor).user_id == "bob"


def test_a_voided_coupon_does_not_count_towards_the_limit(actor):
    book = BookFactory(max_codes_per_user=1)
    make_coupons(book, 2)
    held = coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)
    coupon_void(coupon=held, actor=actor)

    again = coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=actor)

    assert again.pk != held.pk


def test_specific_assignment_matches_the_code_in_any_case(actor):
    coupon = CouponFactory(code="Summer-Sale")

    assigned = coupon_assign_code(partner=coupon.partner, code="SUMMER-sale", user_id="alice", actor=actor)

    assert assigned.pk == coupon.pk


def test_specific_assignment_of_a_taken_coupon_is_unavailable(actor):
    coupon = CouponFactory()
    coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)

    with pytest.raises(CouponUnavailable):
        coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="bob", actor=actor)


def test_another_partners_code_is_not_found(actor):
    coupon = CouponFactory()
    stranger = BookFactory().partner

    with pytest.raises(NotFound):
        coupon_assign_code(partner=stranger, code=coupon.code, user_id="alice", actor=actor)


@pytest.mark.parametrize("user_id", ["", "x" * 129, None, 42])
def test_user_id_must_be_1_to_128_characters(stocked_book, actor, user_id):
    with pytest.raises(InvalidInput) as raised:
        coupon_assign_random(partner=stocked_book.partner, book_id=stocked_book.pk, user_id=user_id, actor=actor)
    assert raised.value.errors[0]["field"] == "user_id"
