"""What the database itself refuses, whatever the code above it does."""

import pytest
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.tests.factories import CouponFactory

pytestmark = pytest.mark.django_db


def test_same_code_in_another_case_is_refused_within_a_partner():
    existing = CouponFactory(code="SUMMER-2026")
    other_book_same_partner = BookFactory(partner=existing.partner)

    with pytest.raises(IntegrityError), transaction.atomic():
        CouponFactory(book=other_book_same_partner, code="summer-2026")


def test_same_code_is_fine_for_another_partner():
    CouponFactory(code="SUMMER-2026")

    CouponFactory(code="summer-2026")

    assert Coupon.objects.filter(code__iexact="summer-2026").count() == 2


@pytest.mark.parametrize("bad_code", ["", "has space", "émoji", "semi;colon"])
def test_code_outside_the_alphabet_is_refused(bad_code):
    with pytest.raises(IntegrityError), transaction.atomic():
        CouponFactory(code=bad_code)


def test_code_longer_than_64_characters_is_refused():
    with pytest.raises(DataError), transaction.atomic():
        CouponFactory(code="x" * 65)


def test_negative_redemption_count_is_refused():
    coupon = CouponFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Coupon.objects.filter(pk=coupon.pk).update(redemption_count=-1)


def test_assigned_coupon_without_holder_is_refused():
    coupon = CouponFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Coupon.objects.filter(pk=coupon.pk).update(state=CouponState.ASSIGNED)


def test_locked_coupon_without_lock_id_is_refused():
    coupon = CouponFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Coupon.objects.filter(pk=coupon.pk).update(state=CouponState.LOCKED, user_id="u", assigned_at=timezone.now())


def test_events_are_append_only():
    coupon = CouponFactory()
    event = CouponEvent.objects.create(
        coupon=coupon,
        partner_id=coupon.partner_id,
        book_id=coupon.book_id,
        action="void",
        from_state="available",
        to_state="void",
        actor_kind="system",
        actor_id="t",
    )
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CouponEvent.objects.filter(pk=event.pk).update(actor_id="forged")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CouponEvent.objects.filter(pk=event.pk).update(book_id=coupon.book_id + 1)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CouponEvent.objects.filter(pk=event.pk).delete()


def test_book_level_events_have_no_coupon_and_coupon_events_have_one():
    coupon = CouponFactory()
    common = {"partner_id": coupon.partner_id, "book_id": coupon.book_id, "actor_kind": "system", "actor_id": "t"}
    with pytest.raises(IntegrityError, match="event_coupon_matches_action"), transaction.atomic():
        CouponEvent.objects.create(action="codes_added", coupon=coupon, **common)
    with pytest.raises(IntegrityError, match="event_coupon_matches_action"), transaction.atomic():
        CouponEvent.objects.create(action="void", **common)
