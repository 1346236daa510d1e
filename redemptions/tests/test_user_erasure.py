"""Erasing an end user: a random pseudonym replaces it in every row of its
footprint (coupons, their events, redemptions, metadata), the coupons it holds
keep their state and count for the pseudonym, and the erasure is an event."""

import re

import pytest
from django.db import connection

from books.tests.factories import BookFactory
from coupons.event_types import EventAction
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.services import (
    coupon_assign_code,
    coupon_assign_random,
    coupon_lock,
    coupon_set_metadata,
    coupon_unassign,
)
from coupons.tests.audit import assert_audit_trail_matches_the_coupons
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.errors import AssignmentLimitReached, CouponNotHeld, InvalidInput
from redemptions.erasure import user_erase
from redemptions.models import Redemption
from redemptions.services import coupon_redeem, redemption_rollback

pytestmark = pytest.mark.django_db
ACTOR = Actor.api_key("erasing")
PSEUDONYM = re.compile(r"erased-[0-9a-f]{32}")

# Every place a user id can be stored, as text: a row naming the user shows here.
NAMING_SQL = """
SELECT 'coupon', id::text FROM coupons_coupon WHERE partner_id = %(partner)s
    AND (user_id = %(user)s OR strpos(metadata::text, %(quoted)s) > 0)
UNION ALL
SELECT 'event', id::text FROM coupons_couponevent WHERE partner_id = %(partner)s
    AND (user_id = %(user)s OR strpos(data::text, %(quoted)s) > 0)
UNION ALL
SELECT 'redemption', redemption.id::text FROM redemptions_redemption redemption
    JOIN coupons_coupon coupon ON coupon.id = redemption.coupon_id
WHERE coupon.partner_id = %(partner)s
    AND (redemption.user_id = %(user)s OR strpos(redemption.metadata::text, %(quoted)s) > 0)
"""


def rows_naming(partner, user_id: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(NAMING_SQL, {"partner": partner.pk, "user": user_id, "quoted": f'"{user_id}"'})
        return cursor.fetchall()


def a_busy_user(book, user_id: str = "alice"):
    """A user with a held coupon, a locked one, a redeemed one (a use rolled
    back, another kept), and one given back: every kind of row."""
    partner = book.partner
    held = coupon_assign_random(partner=partner, book_id=book.pk, user_id=user_id, actor=ACTOR)
    locked = coupon_assign_random(partner=partner, book_id=book.pk, user_id=user_id, actor=ACTOR)
    coupon_lock(partner=partner, code=locked.code, user_id=user_id, actor=ACTOR)
    redeemed = coupon_assign_random(partner=partner, book_id=book.pk, user_id=user_id, actor=ACTOR)
    _, first = coupon_redeem(
        partner=partner, code=redeemed.code, user_id=user_id, metadata={"buyer": user_id, "order": "A-1"}, actor=ACTOR
    )
    redemption_rollback(partner=partner, redemption_id=first.pk, actor=ACTOR)
    coupon_redeem(partner=partner, code=redeemed.code, user_id=user_id, actor=ACTOR)
    returned = coupon_assign_random(partner=partner, book_id=book.pk, user_id=user_id, actor=ACTOR)
    coupon_unassign(partner=partner, code=returned.code, user_id=user_id, actor=ACTOR)
    return held, locked, redeemed, returned


def test_every_row_naming_the_user_names_one_pseudonym_instead_and_the_counts_say_how_many():
    book = BookFactory(max_redemptions_per_coupon=2, max_codes_per_user=None)
    make_coupons(book, 10)
    # Bob first: a random pick after alice's give-back could draw the coupon she gave back.
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="bob", actor=ACTOR)
    held, locked, redeemed, returned = a_busy_user(book)
    events_before = CouponEvent.objects.filter(partner=book.partner).count()
    assert rows_naming(book.partner, "alice")

    erasure = user_erase(partner=book.partner, user_id="alice", actor=ACTOR)

    assert PSEUDONYM.fullmatch(erasure.pseudonym)
    assert rows_naming(book.partner, "alice") == []
    assert (erasure.coupons, erasure.events, erasure.redemptions) == (3, 9, 2)
    pseudonymous = Coupon.objects.filter(user_id=erasure.pseudonym)
    assert {c.code for c in pseudonymous} == {held.code, locked.code, redeemed.code}
    assert CouponEvent.objects.filter(user_id=erasure.pseudonym, coupon__isnull=False).count() == 9
    assert Redemption.objects.filter(user_id=erasure.pseudonym).count() == 2
    # The coupon given back stays in the pool; its history names the pseudonym.
    assert Coupon.objects.get(pk=returned.pk).state == CouponState.AVAILABLE
    assert set(CouponEvent.objects.filter(coupon=returned).values_list("user_id", flat=True)) == {erasure.pseudonym}
    # Nothing else of the trail changed: one event more, the erasure's; bob untouched.
    assert CouponEvent.objects.filter(partner=book.partner).count() == events_before + 1
    assert Coupon.objects.filter(user_id="bob").count() == 1
    assert_audit_trail_matches_the_coupons(book)


def test_snapshots_and_metadata_name_the_pseudonym_where_they_named_the_user():
    book = BookFactory()
    (coupon,) = make_coupons(book, 1)
    partner = book.partner
    coupon_assign_code(partner=partner, code=coupon.code, user_id="alice", actor=ACTOR)
    coupon_set_metadata(partner=partner, code=coupon.code, metadata={"owner": "alice", "alice": ["alice", 1]})
    coupon_redeem(
        partner=partner, code=coupon.code, user_id="alice", metadata={"note": "for alice's birthday"}, actor=ACTOR
    )

    erasure = user_erase(partner=partner, user_id="alice", actor=ACTOR)

    pseudonym = erasure.pseudonym
    coupon.refresh_from_db()
    assert coupon.metadata == {"owner": pseudonym, pseudonym: [pseudonym, 1]}
    redeem = CouponEvent.objects.get(coupon=coupon, action=EventAction.REDEEM)
    assert redeem.user_id == pseudonym
    assert redeem.data["user_id"] == redeem.data["redemption"]["user_id"] == pseudonym
    assert redeem.data["metadata"]["owner"] == pseudonym
    # A value that only contains the id is the partner's own text: left as it was.
    assert redeem.data["redemption"]["metadata"] == {"note": "for alice's birthday"}
    assert Redemption.objects.get(coupon=coupon).metadata == {"note": "for alice's birthday"}


def test_a_held_coupon_keeps_its_state_and_counts_for_the_pseudonym_and_the_old_id_is_a_new_user():
    book = BookFactory(max_codes_per_user=1)
    make_coupons(book, 3)
    partner = book.partner
    held = coupon_assign_random(partner=partner, book_id=book.pk, user_id="alice", actor=ACTOR)
    locked = coupon_lock(partner=partner, code=held.code, user_id="alice", actor=ACTOR)

    erasure = user_erase(partner=partner, user_id="alice", actor=ACTOR)

    after = Coupon.objects.get(pk=held.pk)
    assert (after.state, after.lock_id, after.assigned_at) == (CouponState.LOCKED, locked.lock_id, held.assigned_at)
    with pytest.raises(AssignmentLimitReached):
        coupon_assign_random(partner=partner, book_id=book.pk, user_id=erasure.pseudonym, actor=ACTOR)
    with pytest.raises(CouponNotHeld):
        coupon_redeem(partner=partner, code=held.code, user_id="alice", lock_id=locked.lock_id, actor=ACTOR)
    fresh = coupon_assign_random(partner=partner, book_id=book.pk, user_id="alice", actor=ACTOR)
    assert fresh.pk != held.pk


def test_a_coupon_the_user_gave_back_loses_the_name_in_its_history_not_its_next_holders():
    book = BookFactory()
    (coupon,) = make_coupons(book, 1)
    partner = book.partner
    coupon_assign_code(partner=partner, code=coupon.code, user_id="alice", actor=ACTOR)
    coupon_unassign(partner=partner, code=coupon.code, user_id="alice", actor=ACTOR)
    coupon_assign_code(partner=partner, code=coupon.code, user_id="bob", actor=ACTOR)

    erasure = user_erase(partner=partner, user_id="alice", actor=ACTOR)

    trail = list(CouponEvent.objects.filter(coupon=coupon).order_by("id").values_list("action", "user_id"))
    pseudonym = erasure.pseudonym
    assert trail == [("assign", pseudonym), ("unassign", pseudonym), ("assign", "bob")]
    assert Coupon.objects.get(pk=coupon.pk).user_id == "bob"
    assert (erasure.coupons, erasure.events) == (0, 2)


def test_the_erasure_is_an_event_of_the_partner_naming_the_pseudonym_and_the_counts():
    book = BookFactory()
    make_coupons(book, 2)
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=ACTOR)

    erasure = user_erase(partner=book.partner, user_id="alice", actor=ACTOR)

    event = CouponEvent.objects.get(action=EventAction.USER_ERASED)
    assert (event.partner_id, event.book_id, event.coupon_id) == (book.partner_id, None, None)
    assert (event.user_id, event.actor_kind, event.actor_id) == (erasure.pseudonym, "api_key", "erasing")
    assert event.data == {"user_id": erasure.pseudonym, "coupons": 1, "events": 1, "redemptions": 0}
    assert "alice" not in str(event.data)


def test_a_user_with_no_rows_gets_zeros_and_erasing_twice_is_harmless():
    book = BookFactory()
    make_coupons(book, 2)
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="alice", actor=ACTOR)

    nobody = user_erase(partner=book.partner, user_id="nobody", actor=ACTOR)
    first = user_erase(partner=book.partner, user_id="alice", actor=ACTOR)
    again = user_erase(partner=book.partner, user_id="alice", actor=ACTOR)

    assert nobody.counts() == again.counts() == {"coupons": 0, "events": 0, "redemptions": 0}
    assert first.counts() == {"coupons": 1, "events": 1, "redemptions": 0}
    assert len({nobody.pseudonym, first.pseudonym, again.pseudonym}) == 3
    assert Coupon.objects.filter(user_id=first.pseudonym).count() == 1


def test_another_partners_user_of_the_same_id_is_untouched():
    mine, theirs = BookFactory(), BookFactory()
    make_coupons(mine, 2)
    make_coupons(theirs, 2)
    coupon_assign_random(partner=mine.partner, book_id=mine.pk, user_id="alice", actor=ACTOR)
    coupon_assign_random(partner=theirs.partner, book_id=theirs.pk, user_id="alice", actor=ACTOR)
    their_rows = rows_naming(theirs.partner, "alice")

    user_erase(partner=mine.partner, user_id="alice", actor=ACTOR)

    assert rows_naming(mine.partner, "alice") == []
    assert rows_naming(theirs.partner, "alice") == their_rows != []
    assert Coupon.objects.get(book=theirs, user_id__isnull=False).user_id == "alice"


@pytest.mark.parametrize("user_id", ["", "x" * 129, "nul\x00", 42, None])
def test_a_user_id_that_is_not_one_is_refused_and_nothing_is_recorded(user_id):
    book = BookFactory()
    with pytest.raises(InvalidInput):
        user_erase(partner=book.partner, user_id=user_id, actor=ACTOR)
    assert not CouponEvent.objects.filter(action=EventAction.USER_ERASED).exists()
