"""Assigning many users at once: every rule of the single call, set-based."""

import collections
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.batch_assignment import coupons_assign_batch
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.services import coupon_assign_code, coupon_assign_random
from coupons.tests.audit import assert_audit_trail_matches_the_coupons
from coupons.tests.factories import make_coupons
from couponsite.bounds import BATCH_USERS_MAX
from couponsite.errors import BookExhausted, BookInactive, InvalidInput, NotFound
from couponsite.tests.racing import race


def batch(book, user_ids, actor):
    return coupons_assign_batch(partner=book.partner, book_id=book.pk, user_ids=user_ids, actor=actor)


@pytest.mark.django_db
def test_each_user_gets_one_coupon_in_request_order_with_an_event_each(actor):
    book = BookFactory()
    make_coupons(book, 10)
    users = ["zed", "amy", "kim"]

    results = batch(book, users, actor)

    assert [r.user_id for r in results] == users
    assert len({r.pk for r in results}) == 3
    assert all(r.state == CouponState.ASSIGNED and r.book_id == book.pk for r in results)
    stored = dict(Coupon.objects.filter(book=book, state=CouponState.ASSIGNED).values_list("pk", "user_id"))
    assert stored == {r.pk: r.user_id for r in results}
    events = CouponEvent.objects.filter(coupon__book=book)
    assert sorted(events.values_list("action", "user_id", "actor_id")) == sorted(
        ("assign", user, "testkey") for user in users
    )


@pytest.mark.django_db
def test_the_per_user_limit_and_exhaustion_are_per_user_results(actor):
    book = BookFactory(max_codes_per_user=1)
    make_coupons(book, 3)
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="holder", actor=actor)

    results = batch(book, ["a", "holder", "b", "c", "d"], actor)

    kinds = [type(r).__name__ for r in results]
    assert kinds == ["Coupon", "AssignmentLimitReached", "Coupon", "BookExhausted", "BookExhausted"]
    assert results[1].code.value == "assignment_limit_reached"
    assert Coupon.objects.filter(book=book, state=CouponState.ASSIGNED).count() == 3


@pytest.mark.django_db
def test_expired_assignments_come_back_when_the_batch_finds_too_few(actor):
    book = BookFactory(assignment_ttl_seconds=60, max_codes_per_user=1)
    make_coupons(book, 2)
    old = batch(book, ["a", "b"], actor)
    Coupon.objects.filter(pk=old[0].pk).update(assigned_at=timezone.now() - timedelta(seconds=61))

    results = batch(book, ["a", "c", "d"], actor)

    # "a" holds nothing any more (expired), so may have one again.
    assert [type(r).__name__ for r in results] == ["Coupon", "BookExhausted", "BookExhausted"]
    assert results[0].pk == old[0].pk
    assert CouponEvent.objects.filter(action="assignment_expired").count() == 1
    assert_audit_trail_matches_the_coupons(book)


@pytest.mark.django_db
def test_a_closed_or_foreign_book_refuses_the_whole_call(actor):
    closed = BookFactory(is_active=False)
    make_coupons(closed, 2)
    with pytest.raises(BookInactive):
        batch(closed, ["a"], actor)

    other = BookFactory()
    with pytest.raises(NotFound):
        coupons_assign_batch(partner=other.partner, book_id=closed.pk, user_ids=["a"], actor=actor)
    assert not Coupon.objects.filter(state=CouponState.ASSIGNED).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("user_ids", "field"),
    [
        ([], "user_ids"),
        ([f"u{i}" for i in range(BATCH_USERS_MAX + 1)], "user_ids"),
        (["a", "b", "a"], "user_ids.2"),
        (["a", 7], "user_ids.1"),
        (["a", ""], "user_ids.1"),
        ("a", "user_ids"),
    ],
    ids=["empty", "too-many", "repeated", "number", "blank", "not-a-list"],
)
def test_invalid_user_lists_are_refused_whole(actor, user_ids, field):
    book = BookFactory()
    make_coupons(book, 3)

    with pytest.raises(InvalidInput) as refused:
        batch(book, user_ids, actor)

    assert refused.value.errors[0]["field"] == field
    assert not Coupon.objects.filter(state=CouponState.ASSIGNED).exists()


@pytest.mark.django_db
def test_a_thousand_users_take_two_advisory_locks(actor):
    book = BookFactory(max_codes_per_user=1)
    make_coupons(book, BATCH_USERS_MAX)

    with transaction.atomic():
        results = batch(book, [f"u{i}" for i in range(BATCH_USERS_MAX)], actor)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            advisory_locks = cursor.fetchone()[0]

    # The partner's batches (shared, against an erasure) and the book's assignments.
    assert advisory_locks == 2
    assert sum(isinstance(r, Coupon) for r in results) == BATCH_USERS_MAX


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_batches_racing_single_assignments_keep_every_limit_exact(actor):
    """100 users, limit 2, each asked for 4 times (two batches, two singles,
    random or by code) all at once: each ends with exactly 2."""
    book = BookFactory(max_codes_per_user=2)
    coupons = make_coupons(book, 300)
    users = [f"u{i:03d}" for i in range(100)]
    batches = [users[:50], users[25:75], users[50:], users[:25] + users[75:]]

    def task(i: int):
        if i < len(batches):
            return batch(book, batches[i], actor)
        n = i - len(batches)
        user = users[n % 100]
        if n < 100:
            return coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=user, actor=actor)
        return coupon_assign_code(partner=book.partner, code=coupons[n].code, user_id=user, actor=actor)

    outcomes = race(task, times=len(batches) + 200, workers=12)

    flat = [r for o in outcomes for r in (o if isinstance(o, list) else [o])]
    kinds = collections.Counter(type(r).__name__ for r in flat)
    # A code asked for by one single call may have been drawn by another call first.
    assert set(kinds) <= {"Coupon", "AssignmentLimitReached", "CouponUnavailable"}, kinds
    assert kinds["Coupon"] == 200
    held = collections.Counter(
        Coupon.objects.filter(book=book, state=CouponState.ASSIGNED).values_list("user_id", flat=True)
    )
    assert held == dict.fromkeys(users, 2)
    assert CouponEvent.objects.filter(coupon__book=book, action="assign").count() == 200
    assert_audit_trail_matches_the_coupons(book)


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_batches_racing_single_assignments_hand_out_each_code_once(actor):
    book = BookFactory()
    make_coupons(book, 120)

    def task(i: int):
        if i < 3:
            return batch(book, [f"b{i}-{n}" for n in range(50)], actor)
        return coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"s{i}", actor=actor)

    outcomes = race(task, times=3 + 60, workers=12)

    flat = [r for o in outcomes for r in (o if isinstance(o, list) else [o])]
    winners = [r for r in flat if isinstance(r, Coupon)]
    assert len(winners) == 120
    assert len({c.pk for c in winners}) == 120
    assert all(isinstance(r, (Coupon, BookExhausted)) for r in flat)
    assert sum(isinstance(r, BookExhausted) for r in flat) == 150 + 60 - 120
    assert Coupon.objects.filter(book=book, state=CouponState.ASSIGNED).count() == 120
    assert_audit_trail_matches_the_coupons(book)
