import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponState
from coupons.services import coupon_assign_code, coupon_lock, coupon_release_lock, coupon_unlock, coupon_void
from coupons.tests.factories import CouponFactory, expire, locked_coupon
from couponsite.actors import Actor
from couponsite.errors import (
    BookInactive,
    CouponLocked,
    CouponNotHeld,
    CouponNotLocked,
    CouponRedeemed,
    CouponVoid,
    InvalidInput,
)
from redemptions.services import coupon_redeem

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(actor):
    """A single-use coupon assigned to alice."""
    coupon = CouponFactory()
    return coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)


def lock(coupon, actor, user_id="alice"):
    return coupon_lock(partner=coupon.partner, code=coupon.code, user_id=user_id, actor=actor)


def redeem(coupon, actor, user_id="alice", lock_id=None, metadata=None):
    return coupon_redeem(
        partner=coupon.partner, code=coupon.code, user_id=user_id, lock_id=lock_id, metadata=metadata, actor=actor
    )


def test_lock_returns_a_lock_id_and_an_expiry(held, actor, settings):
    settings.LOCK_TIMEOUT_SECONDS = 120
    before = timezone.now()

    locked = lock(held, actor)

    assert locked.state == CouponState.LOCKED
    assert isinstance(locked.lock_id, uuid.UUID)
    assert before + timedelta(seconds=120) <= locked.locked_until <= timezone.now() + timedelta(seconds=120)


def test_a_second_lock_is_refused_while_the_first_holds(held, actor):
    lock(held, actor)
    with pytest.raises(CouponLocked):
        lock(held, actor)


def test_lock_by_another_user_is_not_held(held, actor):
    with pytest.raises(CouponNotHeld):
        lock(held, actor, user_id="mallory")


def test_lock_of_an_unassigned_coupon_is_not_held(actor):
    coupon = CouponFactory()
    with pytest.raises(CouponNotHeld):
        lock(coupon, actor)


def test_unlock_needs_the_lock_id(held, actor):
    locked = lock(held, actor)

    with pytest.raises(CouponLocked):
        coupon_unlock(partner=held.partner, code=held.code, user_id="alice", lock_id=uuid.uuid4(), actor=actor)
    unlocked = coupon_unlock(partner=held.partner, code=held.code, user_id="alice", lock_id=locked.lock_id, actor=actor)

    assert unlocked.state == CouponState.ASSIGNED
    assert unlocked.lock_id is None and unlocked.locked_until is None


def test_unlock_of_an_unlocked_coupon_is_refused(held, actor):
    with pytest.raises(CouponNotLocked):
        coupon_unlock(partner=held.partner, code=held.code, user_id="alice", lock_id=uuid.uuid4(), actor=actor)


def test_redeem_of_a_locked_coupon_needs_its_lock_id(held, actor):
    locked = lock(held, actor)

    with pytest.raises(CouponLocked):
        redeem(held, actor)
    with pytest.raises(CouponLocked):
        redeem(held, actor, lock_id=uuid.uuid4())
    coupon, redemption = redeem(held, actor, lock_id=locked.lock_id, metadata={"order": "A-1"})

    assert coupon.state == CouponState.REDEEMED
    assert coupon.redemption_count == 1
    assert redemption.metadata == {"order": "A-1"}
    assert redemption.user_id == "alice"


def test_an_assigned_coupon_is_locked_and_redeemed_in_one_step(held, actor):
    coupon, _ = redeem(held, actor)

    assert coupon.state == CouponState.REDEEMED
    with pytest.raises(CouponRedeemed):
        redeem(held, actor)
    with pytest.raises(CouponRedeemed):
        lock(held, actor)


def test_multi_use_coupon_stays_assigned_until_its_last_use(actor):
    coupon = CouponFactory(book=BookFactory(max_redemptions_per_coupon=3))
    coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)

    states = [redeem(coupon, actor)[0].state for _ in range(3)]

    assert states == [CouponState.ASSIGNED, CouponState.ASSIGNED, CouponState.REDEEMED]
    assert coupon.redemptions.count() == 3


def test_unlimited_coupon_never_runs_out(actor):
    coupon = CouponFactory(book=BookFactory(max_redemptions_per_coupon=None))
    coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)

    for _ in range(5):
        redeemed, _ = redeem(coupon, actor)

    assert redeemed.state == CouponState.ASSIGNED
    assert redeemed.redemption_count == 5
    assert redeemed.redemptions_remaining(limit=None) is None


def test_closed_book_refuses_lock_and_redeem(held, actor):
    held.book.is_active = False
    held.book.save()

    with pytest.raises(BookInactive):
        lock(held, actor)
    with pytest.raises(BookInactive):
        redeem(held, actor)


@pytest.mark.parametrize(
    "metadata", [[1, 2], "text", {"blob": "x" * 5000}, {"nul": "a\x00b"}, {"bad": "\ud800"}, {"set": {1}}]
)
def test_metadata_must_be_a_small_json_object(held, actor, metadata):
    with pytest.raises(InvalidInput) as raised:
        redeem(held, actor, metadata=metadata)
    assert raised.value.errors[0]["field"] == "metadata"


def test_metadata_limit_counts_utf8_bytes_as_the_api_does(held, actor):
    # 4,008 bytes of UTF-8; escaped to ASCII the same object is three times longer.
    metadata = {"e": "\N{GRINNING FACE}" * 1000}

    _, redemption = redeem(held, actor, metadata=metadata)

    redemption.refresh_from_db()
    assert redemption.metadata == metadata


def test_void_coupon_refuses_everything(held, actor):
    staff = Actor.staff(1)
    voided = coupon_void(coupon=held, actor=staff)

    assert voided.state == CouponState.VOID
    with pytest.raises(CouponVoid):
        lock(held, actor)
    with pytest.raises(CouponVoid):
        redeem(held, actor)
    with pytest.raises(CouponVoid):
        coupon_void(coupon=held, actor=staff)


def test_void_clears_a_lock(held, actor):
    lock(held, actor)
    voided = coupon_void(coupon=held, actor=Actor.staff(1))
    assert voided.lock_id is None and voided.locked_until is None


def test_redeemed_coupon_cannot_be_voided(held, actor):
    redeem(held, actor)
    with pytest.raises(CouponRedeemed):
        coupon_void(coupon=held, actor=Actor.staff(1))


def test_staff_release_a_lock_without_its_id(held, actor):
    lock(held, actor)
    released = coupon_release_lock(coupon=held, actor=Actor.staff(1))

    assert released.state == CouponState.ASSIGNED
    assert list(released.events.values_list("action", "actor_kind"))[-1] == ("unlock", "staff")
    with pytest.raises(CouponNotLocked):
        coupon_release_lock(coupon=held, actor=Actor.staff(1))


def test_every_transition_writes_exactly_one_event(held, actor):
    locked = lock(held, actor)
    coupon_unlock(partner=held.partner, code=held.code, user_id="alice", lock_id=locked.lock_id, actor=actor)
    locked = lock(held, actor)
    redeem(held, actor, lock_id=locked.lock_id)

    history = list(Coupon.objects.get(pk=held.pk).events.values_list("action", "from_state", "to_state"))

    assert history == [
        ("assign", "available", "assigned"),
        ("lock", "assigned", "locked"),
        ("unlock", "locked", "assigned"),
        ("lock", "assigned", "locked"),
        ("redeem", "locked", "redeemed"),
    ]


def test_a_redeemed_coupon_stays_used_up_when_the_books_limit_is_raised(held, actor):
    redeem(held, actor)
    held.book.max_redemptions_per_coupon = 3
    held.book.save()

    stored = Coupon.objects.select_related("book").get(pk=held.pk)
    assert stored.redemptions_remaining(limit=stored.book.max_redemptions_per_coupon) == 0
    with pytest.raises(CouponRedeemed):
        redeem(held, actor)


def test_a_void_coupon_has_no_uses_left_even_when_unlimited(actor):
    coupon = CouponFactory(book=BookFactory(max_redemptions_per_coupon=None))
    voided = coupon_void(coupon=coupon, actor=Actor.staff(1))
    assert voided.redemptions_remaining(limit=None) == 0


@pytest.mark.django_db
def test_an_expired_lock_can_be_taken_again_and_the_old_lock_id_is_refused(actor):
    coupon, old_lock_id = locked_coupon(actor)
    expire(coupon)

    relocked = coupon_lock(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)

    assert relocked.lock_id != old_lock_id
    with pytest.raises(CouponLocked):
        coupon_unlock(partner=coupon.partner, code=coupon.code, user_id="alice", lock_id=old_lock_id, actor=actor)
    with pytest.raises(CouponLocked):
        coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", lock_id=old_lock_id, actor=actor)
    history = list(relocked.events.values_list("action", "actor_kind", "actor_id"))
    assert history == [
        ("assign", "api_key", "testkey"),
        ("lock", "api_key", "testkey"),
        ("lock_expired", "system", "lock_expiry"),
        ("lock", "api_key", "testkey"),
    ]
