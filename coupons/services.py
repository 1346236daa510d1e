"""The coupon lifecycle: assignment, locks, void and lock expiry; and the small
public API that redemptions (the layer above) builds redeem and rollback on.

Every function here that changes a coupon is one ``transaction.atomic()``
block whose first statement takes an advisory lock (``couponsite.locks``): on
(book, user) for assignment, on the coupon for everything else. The row is
then read ``FOR UPDATE`` so that a random pick, which locks rows with ``SKIP
LOCKED`` instead, can never interleave with a write of the same coupon. The
change itself is ``coupons.lifecycle.coupon_transition``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from books.models import Book, Partner
from books.services import book_update
from coupons.events import event_book_updated
from coupons.lifecycle import (
    EVENTS_FROM_CHANGED_SQL,
    TransitionSQL,
    changed_columns,
    coupon_transition,
    event_parameters,
    queryset_sql,
)
from coupons.locked_reads import book_for_assignment, coupon_for_update, coupon_for_update_by_code, coupon_to_assign
from coupons.models import Coupon, CouponState
from coupons.rows import COUPON_COLUMNS, coupon_from_row
from coupons.selectors import coupon_get
from couponsite.actors import Actor
from couponsite.bounds import checked_user_id, metadata_problem
from couponsite.db import prepare_once, send_with_next
from couponsite.errors import (
    AssignmentLimitReached,
    BookExhausted,
    BookInactive,
    CouponInUse,
    CouponLocked,
    CouponNotHeld,
    CouponNotLocked,
    CouponRedeemed,
    CouponUnavailable,
    CouponVoid,
    InvalidInput,
)
from couponsite.metrics import count_transition

# The clock, not the caller, ends a lock: an expiry found while serving a
# request is recorded as the system's (the event still carries the request id).
LOCK_EXPIRY = Actor.system("lock_expiry")
ASSIGNMENT_EXPIRY = Actor.system("assignment_expiry")

ASSIGN = TransitionSQL.of("assign")
# The first available coupon in the book's secret random order, assigned with
# its event in one statement. SKIP LOCKED lets concurrent assignments take the
# next ones instead of queueing on the first; the partial index
# coupon_pick_order_idx, the only one in (sort_key, id) order, makes the cost
# independent of the book's size and of how many coupons are assigned.
ASSIGN_NEXT_SQL = prepare_once(f"""
WITH pick AS (
    SELECT id, state FROM coupons_coupon
    WHERE book_id = %(book_id)s AND state IN ({ASSIGN.sources_sql})
    ORDER BY sort_key, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), changed AS (
    UPDATE coupons_coupon AS coupon SET {ASSIGN.set_clause}
    FROM pick WHERE coupon.id = pick.id
    RETURNING {COUPON_COLUMNS}, pick.state AS from_state, coupon.state AS to_state
), events AS (
    {EVENTS_FROM_CHANGED_SQL}
)
SELECT * FROM changed
""")  # noqa: S608 - built from the lifecycle table and the model's columns, values are parameters


# The public API of the lifecycle for the layer above.


def coupon_expire_lock_if_due(*, coupon: Coupon, now: datetime, actor: Actor = LOCK_EXPIRY) -> bool:
    """An expired lock counts as released: write that down before acting on it."""
    if not coupon.lock_has_expired(now=now):
        return False
    coupon_transition(coupon.expire_lock, actor=actor)
    return True


def coupon_expire_assignment_if_due(*, coupon: Coupon, now: datetime) -> bool:
    """An assignment past its book's TTL counts as returned: write that down before acting on it."""
    if not coupon.assignment_has_expired(now=now):
        return False
    coupon_transition(coupon.expire_assignment, actor=ASSIGNMENT_EXPIRY, now=now)
    return True


def coupon_check_usable(coupon: Coupon, *, user_id: str, now: datetime) -> None:
    """Refuse a use of the coupon by ``user_id`` now: not theirs, void, no use
    left, or its book closed."""
    _ensure_held_by(coupon, user_id=user_id, now=now)
    _ensure_uses_remain(coupon)
    book_ensure_open(coupon.book, now=now)


# Rules.


def book_ensure_open(book: Book, *, now: datetime) -> None:
    if not book.is_open(at=now):
        raise BookInactive(f"Book {book.pk} is inactive or outside its validity window")


def _ensure_under_limit(book: Book, *, held: int) -> None:
    if book.max_codes_per_user is not None and held >= book.max_codes_per_user:
        raise AssignmentLimitReached(f"The user already holds {held} coupons of this book, the most allowed")


def _ensure_held_by(coupon: Coupon, *, user_id: str, now: datetime) -> None:
    """Refuse a coupon that is not this user's (an expired assignment is
    nobody's); a void one says so."""
    if coupon.holder(now=now) != user_id:
        raise CouponNotHeld()
    if coupon.state == CouponState.VOID:
        raise CouponVoid()


def _ensure_uses_remain(coupon: Coupon) -> None:
    remaining = coupon.redemptions_remaining(limit=coupon.book.max_redemptions_per_coupon)
    if coupon.state == CouponState.REDEEMED or remaining == 0:
        raise CouponRedeemed()


# Assignment.


def coupon_assign_random(*, partner: Partner, book_id: int, user_id: str, actor: Actor) -> Coupon:
    """Give ``user_id`` the next coupon of the partner's book in its secret
    random order. A book that seems exhausted first gets its expired
    assignments back (``book_release_expired_assignments``), then is asked again."""
    user_id = checked_user_id(user_id)
    book, coupon = _assign_next(partner=partner, book_id=book_id, user_id=user_id, actor=actor)
    if coupon is None and book.assignment_ttl_seconds is not None and book_release_expired_assignments(book=book):
        book, coupon = _assign_next(partner=partner, book_id=book_id, user_id=user_id, actor=actor)
    if coupon is None:
        raise BookExhausted(f"Book {book.pk} has no available coupon left")
    return coupon


def _assign_next(*, partner: Partner, book_id: int, user_id: str, actor: Actor) -> tuple[Book, Coupon | None]:
    with transaction.atomic():
        now = timezone.now()
        book, held = book_for_assignment(partner=partner, book_id=book_id, user_id=user_id, now=now)
        book_ensure_open(book, now=now)
        _ensure_under_limit(book, held=held)
        parameters = {"book_id": book.pk, "user_id": user_id, "at": now, "now": now}
        # Goes out with the COMMIT: the pick, the write and the event, one call.
        assigned = send_with_next(ASSIGN_NEXT_SQL, {**parameters, **event_parameters(transition=ASSIGN, actor=actor)})
    if not assigned.rows:
        return book, None
    count_transition(ASSIGN.name)
    coupon = coupon_from_row(assigned.rows[0])
    coupon.book = book
    return book, coupon


def coupon_assign_code(*, partner: Partner, code: str, user_id: str, actor: Actor) -> Coupon:
    """Give ``user_id`` the coupon with this code, if it is still available."""
    user_id = checked_user_id(user_id)
    with transaction.atomic():
        now = timezone.now()
        coupon, held = coupon_to_assign(partner=partner, code=code, user_id=user_id, now=now)
        book_ensure_open(coupon.book, now=now)
        coupon_expire_assignment_if_due(coupon=coupon, now=now)
        if coupon.state != CouponState.AVAILABLE:
            raise CouponUnavailable()
        _ensure_under_limit(coupon.book, held=held)
        coupon_transition(coupon.assign, actor=actor, user_id=user_id, at=now)
        return coupon


# Locks.


def coupon_lock(*, partner: Partner, code: str, user_id: str, actor: Actor) -> Coupon:
    """Hold the user's coupon at checkout; the returned coupon carries ``lock_id``."""
    user_id = checked_user_id(user_id)
    with transaction.atomic():
        coupon = coupon_for_update_by_code(partner=partner, code=code)
        now = timezone.now()
        _ensure_held_by(coupon, user_id=user_id, now=now)
        book_ensure_open(coupon.book, now=now)
        coupon_expire_lock_if_due(coupon=coupon, now=now)
        if coupon.state == CouponState.LOCKED:
            raise CouponLocked("The coupon is locked already")
        _ensure_uses_remain(coupon)
        until = now + timedelta(seconds=settings.LOCK_TIMEOUT_SECONDS)
        coupon_transition(coupon.lock, actor=actor, lock_id=uuid.uuid4(), until=until)
        return coupon


def coupon_unlock(*, partner: Partner, code: str, user_id: str, lock_id: uuid.UUID, actor: Actor) -> Coupon:
    user_id = checked_user_id(user_id)
    with transaction.atomic():
        coupon = coupon_for_update_by_code(partner=partner, code=code)
        now = timezone.now()
        _ensure_held_by(coupon, user_id=user_id, now=now)
        if not coupon.lock_is_live(now=now):
            raise CouponNotLocked()
        if coupon.lock_id != lock_id:
            raise CouponLocked()
        coupon_transition(coupon.unlock, actor=actor)
        return coupon


def coupon_unassign(*, partner: Partner, code: str, user_id: str, actor: Actor) -> Coupon:
    """The user gives the coupon back before using it: it returns to the
    pool, as likely to be drawn next as any other available coupon."""
    user_id = checked_user_id(user_id)
    with transaction.atomic():
        coupon = coupon_for_update_by_code(partner=partner, code=code)
        now = timezone.now()
        _ensure_held_by(coupon, user_id=user_id, now=now)
        if coupon.lock_is_live(now=now):
            raise CouponLocked("The coupon is locked; unlock it first")
        if coupon.state == CouponState.REDEEMED or coupon.redemption_count > 0:
            raise CouponInUse()
        coupon_expire_lock_if_due(coupon=coupon, now=now)
        coupon_transition(coupon.unassign, actor=actor, now=now)
        return coupon


def coupon_release_lock(*, coupon: Coupon, actor: Actor) -> Coupon:
    """Staff release a lock without its ``lock_id`` (a checkout that died)."""
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=coupon.pk)
        if coupon.state != CouponState.LOCKED:
            raise CouponNotLocked()
        coupon_transition(coupon.unlock, actor=actor)
        return coupon


# Staff.


def coupon_set_metadata(*, partner: Partner, code: str, metadata: object) -> Coupon:
    """Replace the coupon's metadata, whatever its state: it is the partner's
    own data, not part of the coupon's life."""
    problem = metadata_problem(metadata)
    if problem:
        raise InvalidInput.field("metadata", f"metadata: {problem}")
    coupon = coupon_get(partner=partner, code=code)
    Coupon.objects.filter(pk=coupon.pk).update(metadata=metadata, updated_at=timezone.now())
    coupon.metadata = metadata
    return coupon


def coupon_void(*, coupon: Coupon, actor: Actor) -> Coupon:
    """Staff take a coupon out of circulation for good."""
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=coupon.pk)
        if coupon.state == CouponState.VOID:
            raise CouponVoid("The coupon was voided already")
        coupon_expire_assignment_if_due(coupon=coupon, now=timezone.now())
        if coupon.state == CouponState.REDEEMED:
            raise CouponRedeemed("A fully redeemed coupon cannot be voided")
        coupon_transition(coupon.void, actor=actor)
        return coupon


# Books: a change is recorded on the audit trail (the books layer below
# cannot write it).


def book_update_recorded(*, book: Book, actor: Actor, **changes: Any) -> Book:
    """``books.services.book_update`` and its ``book_updated`` event, in one
    transaction; a request that changes nothing records nothing."""
    with transaction.atomic():
        book = book_update(book=book, **changes)
        if changes:
            event_book_updated(book=book, changes=changes, actor=actor)
    return book


# Housekeeping.


def _release_sql(transition: TransitionSQL, **instead: str) -> str:
    """A batch of coupons (``due``: a queryset's own definition, with FOR
    UPDATE SKIP LOCKED) taken through ``transition`` in one statement, with
    one event each. Rows another transaction holds are skipped (it will see
    the expiry itself, under its own locks), so the job never waits on traffic
    and two runs at once never write the same expiry twice."""
    return f"""
WITH due AS ({{due}}), changed AS (
    UPDATE coupons_coupon AS coupon SET {transition.set_clause}
    FROM due WHERE coupon.id = due.id
    RETURNING {changed_columns("coupon", **instead)}, due.state AS from_state, coupon.state AS to_state
)
{EVENTS_FROM_CHANGED_SQL}
"""  # noqa: S608 - built from the lifecycle table and the queryset, values are parameters


EXPIRE_LOCKS = TransitionSQL.of("expire_lock")
EXPIRE_LOCKS_SQL = _release_sql(EXPIRE_LOCKS)
EXPIRE_ASSIGNMENTS = TransitionSQL.of("expire_assignment")
# The event names the user who held the coupon.
EXPIRE_ASSIGNMENTS_SQL = _release_sql(EXPIRE_ASSIGNMENTS, user_id="due.user_id")


def _release_in_batches(
    *,
    transition: TransitionSQL,
    statement: str,
    due: Callable[[datetime], QuerySet[Coupon]],
    columns: tuple[str, ...],
    actor: Actor,
    batch_size: int,
) -> int:
    """Run ``statement`` on ``due(now)``'s coupons a batch at a time, each
    batch its own transaction, until a batch comes back short; how many."""
    _check_batch_size(batch_size)
    events = event_parameters(transition=transition, actor=actor)
    released = 0
    while True:
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            due_sql, due_parameters = queryset_sql(due(now).values(*columns)[:batch_size], prefix="due")
            cursor.execute(statement.format(due=due_sql), {**events, **due_parameters, "now": now})
            batch = cursor.rowcount
            count_transition(transition.name, batch)
        released += batch
        if batch < batch_size:
            return released


def locks_release_expired(*, actor: Actor | None = None, batch_size: int = 1000) -> int:
    """Write back every lock past its time, one ``lock_expired`` event each;
    returns how many. Safe to run while traffic runs, and twice at once."""
    return _release_in_batches(
        transition=EXPIRE_LOCKS,
        statement=EXPIRE_LOCKS_SQL,
        due=lambda now: (
            Coupon.objects.lock_expired(now=now).select_for_update(skip_locked=True).order_by("locked_until")
        ),
        columns=("id", "state"),
        actor=actor or Actor.system("release_expired_locks"),
        batch_size=batch_size,
    )


def assignments_release_expired(*, actor: Actor | None = None, batch_size: int = 1000) -> int:
    """Write back every assignment past its book's TTL, in every book that
    has one, one ``assignment_expired`` event each; returns how many. Safe to
    run while traffic runs, and twice at once."""
    _check_batch_size(batch_size)
    books = Book.objects.filter(assignment_ttl_seconds__isnull=False).order_by("pk")
    return sum(
        book_release_expired_assignments(book=book, actor=actor, batch_size=batch_size) for book in books.iterator()
    )


def book_release_expired_assignments(*, book: Book, actor: Actor | None = None, batch_size: int = 1000) -> int:
    """Write back the book's expired assignments (through
    ``coupon_assignment_expiry_idx``); returns how many."""
    return _release_in_batches(
        transition=EXPIRE_ASSIGNMENTS,
        statement=EXPIRE_ASSIGNMENTS_SQL,
        due=lambda now: (
            Coupon.objects.filter(book_id=book.pk)
            .assignment_expired(now=now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("assigned_at")
        ),
        columns=("id", "state", "user_id"),
        actor=actor or ASSIGNMENT_EXPIRY,
        batch_size=batch_size,
    )


def _check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput.field("batch_size", "batch_size must be a positive integer.")
