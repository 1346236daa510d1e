import pytest
from django.utils import timezone

from coupons.models import Coupon, CouponEvent, CouponState
from coupons.selectors import book_state_counts, coupon_list_for_book
from coupons.services import coupon_unlock, locks_release_expired
from coupons.tests.factories import expire, locked_coupon
from couponsite.errors import CouponNotLocked
from couponsite.tests.racing import race


@pytest.mark.django_db
def test_an_expired_lock_reads_as_assigned_at_once(actor):
    coupon, _ = locked_coupon(actor)
    expire(coupon)

    stored = Coupon.objects.get(pk=coupon.pk)
    assert stored.state == CouponState.LOCKED
    assert stored.effective_state(now=timezone.now()) == CouponState.ASSIGNED
    assert book_state_counts(book=coupon.book)["assigned"] == 1
    assert book_state_counts(book=coupon.book)["locked"] == 0
    assert list(coupon_list_for_book(book=coupon.book, state="assigned")) == [stored]
    assert not coupon_list_for_book(book=coupon.book, state="locked").exists()


@pytest.mark.django_db
def test_unlock_after_expiry_is_not_locked(actor):
    coupon, lock_id = locked_coupon(actor)
    expire(coupon)

    with pytest.raises(CouponNotLocked):
        coupon_unlock(partner=coupon.partner, code=coupon.code, user_id="alice", lock_id=lock_id, actor=actor)


@pytest.mark.django_db
def test_release_writes_state_back_with_one_event_and_leaves_live_locks(actor):
    expired, _ = locked_coupon(actor)
    live, _ = locked_coupon(actor)
    expire(expired)

    assert locks_release_expired() == 1
    assert locks_release_expired() == 0

    assert Coupon.objects.get(pk=expired.pk).state == CouponState.ASSIGNED
    assert Coupon.objects.get(pk=live.pk).state == CouponState.LOCKED
    (event,) = CouponEvent.objects.filter(coupon=expired, action="lock_expired")
    assert (event.actor_kind, event.actor_id) == ("system", "release_expired_locks")


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_two_releases_at_the_same_moment_write_each_event_once(actor):
    coupons = [locked_coupon(actor)[0] for _ in range(30)]
    for coupon in coupons:
        expire(coupon)

    released = race(lambda _: locks_release_expired(batch_size=7), times=2)

    assert sum(released) == 30
    assert CouponEvent.objects.filter(action="lock_expired").count() == 30
    assert not Coupon.objects.filter(state=CouponState.LOCKED).exists()
