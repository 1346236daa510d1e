"""Assignments that expire: a book's assignment_ttl_seconds returns unused
coupons to the pool, read at once everywhere and written back later."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from books.services import book_update
from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent, CouponState, assignment_expired_sql
from coupons.selectors import book_state_counts, coupon_list_for_book, coupon_list_for_user
from coupons.services import (
    assignments_release_expired,
    coupon_assign_code,
    coupon_assign_random,
    coupon_lock,
    coupon_unassign,
    coupon_void,
)
from coupons.tests.audit import assert_audit_trail_matches_the_coupons
from coupons.tests.factories import expire, make_coupons
from couponsite.actors import Actor
from couponsite.errors import BookExhausted, CouponNotHeld
from couponsite.tests.racing import race

pytestmark = pytest.mark.django_db
TTL = 3600


def age(coupon: Coupon, seconds: int = TTL + 1) -> None:
    """Move the assignment into the past, as the clock would."""
    Coupon.objects.filter(pk=coupon.pk).update(assigned_at=timezone.now() - timedelta(seconds=seconds))


def take_a_use(coupon: Coupon) -> None:
    """A redemption's effect on the count (redemptions, the layer above, test redeeming itself)."""
    Coupon.objects.filter(pk=coupon.pk).update(redemption_count=1)


def assign(book, user_id: str, actor) -> Coupon:
    return coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=user_id, actor=actor)


def test_an_assignment_past_the_ttl_reads_available_and_nobodys_everywhere(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 3)
    expired, running = assign(book, "alice", actor), assign(book, "bob", actor)
    age(expired)

    now = timezone.now()
    stored = Coupon.objects.select_related("book").get(pk=expired.pk)
    assert stored.state == CouponState.ASSIGNED
    assert stored.effective_state(now=now) == CouponState.AVAILABLE
    assert stored.holder(now=now) is None
    assert book_state_counts(book=book) == {
        "available": 2,
        "assigned": 1,
        "locked": 0,
        "redeemed": 0,
        "void": 0,
        "total": 3,
    }
    assert expired.pk in {c.pk for c in coupon_list_for_book(book=book, state="available")}
    assert [c.pk for c in coupon_list_for_book(book=book, state="assigned")] == [running.pk]
    assert not coupon_list_for_user(partner=book.partner, user_id="alice").exists()
    assert not coupon_list_for_book(book=book, user_id="alice").exists()
    states = dict(Coupon.objects.filter(book=book).with_effective_state(now=now).values_list("pk", "effective_state"))
    assert states[expired.pk] == "available"
    assert states[running.pk] == "assigned"


def test_a_used_a_live_locked_or_a_ttl_less_assignment_never_expires(actor):
    book = BookFactory(assignment_ttl_seconds=TTL, max_redemptions_per_coupon=5)
    make_coupons(book, 3)
    used, locked = assign(book, "used", actor), assign(book, "locked", actor)
    take_a_use(used)
    coupon_lock(partner=book.partner, code=locked.code, user_id="locked", actor=actor)
    no_ttl = BookFactory(partner=book.partner)
    make_coupons(no_ttl, 1)
    forever = assign(no_ttl, "forever", actor)
    for coupon in (used, locked, forever):
        age(coupon)

    assert assignments_release_expired() == 0
    assert book_state_counts(book=book)["available"] == 1
    assert not Coupon.objects.assignment_expired(now=timezone.now()).exists()

    expire(locked)  # a lock past its time no longer keeps the assignment
    assert Coupon.objects.assignment_expired(now=timezone.now()).get().pk == locked.pk


def test_the_sql_of_the_hot_path_and_the_queryset_agree_on_every_kind_of_row(actor):
    books = {ttl: BookFactory(assignment_ttl_seconds=ttl, max_redemptions_per_coupon=5) for ttl in (None, TTL)}
    cases = itertools.product(books.values(), [TTL - 60, TTL + 60], ["assigned", "used", "live", "expired_lock"])
    for n, (book, seconds, kind) in enumerate(cases):
        (coupon,) = make_coupons(book, 1, prefix=f"K{n}-")
        coupon_assign_code(partner=book.partner, code=coupon.code, user_id="u", actor=actor)
        if kind == "used":
            take_a_use(coupon)
        if kind in ("live", "expired_lock"):
            coupon_lock(partner=book.partner, code=coupon.code, user_id="u", actor=actor)
        if kind == "expired_lock":
            expire(coupon)
        age(coupon, seconds)
    now = timezone.now()
    condition = assignment_expired_sql(coupon="coupon", ttl="book.assignment_ttl_seconds", now="%(now)s")

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coupon.id FROM coupons_coupon coupon JOIN books_book book ON book.id = coupon.book_id "  # noqa: S608
            f"WHERE {condition}",
            {"now": now},
        )
        by_sql = {row[0] for row in cursor.fetchall()}
    by_queryset = set(Coupon.objects.assignment_expired(now=now).values_list("pk", flat=True))
    by_instance = {c.pk for c in Coupon.objects.select_related("book") if c.assignment_has_expired(now=now)}

    assert len(by_sql) == 2  # TTL passed: assigned, and locked past its time
    assert by_sql == by_queryset == by_instance


def test_the_user_limit_does_not_count_expired_assignments(actor):
    book = BookFactory(assignment_ttl_seconds=TTL, max_codes_per_user=1)
    coupons = make_coupons(book, 3)
    first = assign(book, "alice", actor)
    age(first)

    second = assign(book, "alice", actor)
    age(second)
    third = coupon_assign_code(
        partner=book.partner,
        code=next(c.code for c in coupons if c.pk not in (first.pk, second.pk)),
        user_id="alice",
        actor=actor,
    )

    assert third.user_id == "alice"


def test_the_old_holder_of_an_expired_assignment_no_longer_holds_it(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 1)
    coupon = assign(book, "alice", actor)
    age(coupon)

    for service in (coupon_lock, coupon_unassign):
        with pytest.raises(CouponNotHeld):
            service(partner=book.partner, code=coupon.code, user_id="alice", actor=actor)


def test_an_expired_assignment_can_be_given_by_code_to_another_user_with_both_events(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 1)
    coupon = assign(book, "alice", actor)
    age(coupon)

    coupon_assign_code(partner=book.partner, code=coupon.code, user_id="bob", actor=actor)

    events = list(CouponEvent.objects.filter(coupon=coupon).order_by("id"))
    assert [(e.action, e.user_id, e.actor_kind) for e in events] == [
        ("assign", "alice", "api_key"),
        ("assignment_expired", "alice", "system"),
        ("assign", "bob", "api_key"),
    ]


def test_a_book_with_expired_assignments_is_never_exhausted(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 2)
    first, second = assign(book, "alice", actor), assign(book, "bob", actor)
    with pytest.raises(BookExhausted):
        assign(book, "carol", actor)
    age(first)

    third = assign(book, "carol", actor)

    assert third.pk == first.pk
    assert CouponEvent.objects.filter(coupon=first, action="assignment_expired").count() == 1
    assert Coupon.objects.get(pk=second.pk).user_id == "bob"


def test_the_pick_writes_the_books_expired_rows_back_through_the_index():
    book = BookFactory(assignment_ttl_seconds=TTL)
    due = (
        Coupon.objects.filter(book_id=book.pk)
        .assignment_expired(now=timezone.now())
        .select_for_update(skip_locked=True, of=("self",))
    )
    sql, params = due.values("id", "state", "user_id").query.sql_with_params()

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "coupon_assignment_expiry_idx" in plan, plan


def test_the_housekeeping_job_writes_expired_assignments_back_once_with_system_events(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 4)
    expired = [assign(book, f"u{i}", actor) for i in range(3)]
    running = assign(book, "late", actor)
    coupon_lock(partner=book.partner, code=expired[2].code, user_id="u2", actor=actor)
    expire(expired[2])
    for coupon in expired:
        age(coupon)

    assert assignments_release_expired(batch_size=2) == 3
    assert assignments_release_expired() == 0

    assert Coupon.objects.filter(book=book, state=CouponState.AVAILABLE, user_id__isnull=True).count() == 3
    assert Coupon.objects.get(pk=running.pk).state == CouponState.ASSIGNED
    events = CouponEvent.objects.filter(action="assignment_expired").order_by("id")
    assert sorted(e.user_id for e in events) == ["u0", "u1", "u2"]
    assert {(e.actor_kind, e.actor_id, e.to_state) for e in events} == {("system", "assignment_expiry", "available")}
    assert sorted(e.from_state for e in events) == ["assigned", "assigned", "locked"]
    assert_audit_trail_matches_the_coupons(book)


def test_the_command_writes_back_with_its_own_name(actor):
    from django.core.management import call_command

    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 1)
    age(assign(book, "alice", actor))

    call_command("release_expired_assignments", verbosity=0)

    event = CouponEvent.objects.get(action="assignment_expired")
    assert (event.actor_kind, event.actor_id) == ("system", "release_expired_assignments")


@pytest.mark.django_db(transaction=True)
def test_two_jobs_at_once_write_each_expiry_once(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 30)
    for i in range(30):
        age(assign(book, f"u{i}", actor))

    released = race(lambda _: assignments_release_expired(batch_size=7), times=2)

    assert sum(released) == 30
    assert CouponEvent.objects.filter(action="assignment_expired").count() == 30


def test_a_shorter_ttl_applies_to_assignments_made_before(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 1)
    coupon = assign(book, "alice", actor)
    age(coupon, 120)
    assert book_state_counts(book=book)["assigned"] == 1

    book_update(book=book, assignment_ttl_seconds=60)

    assert book_state_counts(book=book)["available"] == 1


def test_voiding_an_expired_assignment_records_the_expiry_first(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 1)
    coupon = assign(book, "alice", actor)
    age(coupon)

    coupon_void(coupon=coupon, actor=Actor.system("staff-test"))

    actions = list(CouponEvent.objects.filter(coupon=coupon).order_by("id").values_list("action", flat=True))
    assert actions == ["assign", "assignment_expired", "void"]


def test_rows_written_back_together_each_draw_a_new_key_above_the_watermark(actor):
    book = BookFactory(assignment_ttl_seconds=TTL)
    make_coupons(book, 60)
    taken = [assign(book, f"u{i}", actor) for i in range(40)]
    old_keys = dict(Coupon.objects.filter(book=book, state=CouponState.ASSIGNED).values_list("pk", "sort_key"))
    for coupon in taken:
        age(coupon)

    assert assignments_release_expired() == 40

    new_keys = dict(Coupon.objects.filter(pk__in=old_keys).values_list("pk", "sort_key"))
    assert len(set(new_keys.values())) == 40
    assert min(new_keys.values()) > max(old_keys.values())
