"""The coupon lifecycle: assignment, locks, redemption, void and lock expiry.

Every function here is one ``transaction.atomic()`` block whose first statement
takes an advisory lock (``couponsite.locks``): on (book, user) for assignment,
on the coupon for everything else. The row is then read ``FOR UPDATE`` so that
a random pick, which locks rows with ``SKIP LOCKED`` instead, can never
interleave with a write of the same coupon.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from books.models import Book, Partner
from coupons.events import event_record
from coupons.models import USER_ID_MAX_LENGTH, Coupon, CouponEvent, CouponState
from couponsite.actors import Actor
from couponsite.errors import (
    AssignmentLimitReached,
    BookExhausted,
    BookInactive,
    CouponLocked,
    CouponNotHeld,
    CouponNotLocked,
    CouponRedeemed,
    CouponUnavailable,
    CouponVoid,
    InvalidInput,
    NotFound,
)
from couponsite.locks import LockKind, advisory_xact_lock
from redemptions.models import Redemption

Action = CouponEvent.Action
# The clock, not the caller, ends a lock: an expiry found while serving a
# request is recorded as the system's (the event still carries the request id).
LOCK_EXPIRY = Actor.system("lock_expiry")
# States that count towards a book's max_codes_per_user. A voided coupon does
# not: staff took it away, so the user may be given another.
HELD_STATES = (CouponState.ASSIGNED, CouponState.LOCKED, CouponState.REDEEMED)

# The first available coupon in the book's secret random order. SKIP LOCKED lets
# concurrent assignments take the next ones instead of queueing on the first;
# the partial index coupon_available_pick_idx makes the cost independent of the
# book's size.
PICK_AVAILABLE_SQL = """
SELECT * FROM coupons_coupon
WHERE book_id = %s AND state = 'available'
ORDER BY sort_key
LIMIT 1
FOR UPDATE SKIP LOCKED
"""


def validate_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= USER_ID_MAX_LENGTH:
        detail = f"user_id must be a string of 1 to {USER_ID_MAX_LENGTH} characters."
        raise InvalidInput(detail, errors=[{"field": "user_id", "detail": detail}])
    return user_id


def metadata_problem(metadata: object) -> str | None:
    """Why ``metadata`` cannot be stored with a redemption, or None. The API's
    serializer asks this too, so that the limit is measured one way only."""
    if not isinstance(metadata, dict):
        return "Must be a JSON object."
    try:
        encoded = json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return "Must be valid Unicode text."
    except (TypeError, ValueError):
        return "Must hold only JSON values."
    if len(encoded) > settings.API_METADATA_MAX_BYTES:
        return f"Must be at most {settings.API_METADATA_MAX_BYTES} bytes of JSON."
    if _holds_nul(metadata):
        # PostgreSQL's jsonb cannot store U+0000.
        return "Must not contain NUL characters."
    return None


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def validate_metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    problem = metadata_problem(metadata)
    if problem:
        raise InvalidInput(f"metadata: {problem}", errors=[{"field": "metadata", "detail": problem}])
    return metadata


def _ensure_book_open(book: Book, *, now: datetime) -> None:
    if not book.is_open(at=now):
        raise BookInactive(f"Book {book.pk} is inactive or outside its validity window")


def _ensure_under_limit(book: Book, *, user_id: str) -> None:
    if book.max_codes_per_user is None:
        return
    held = Coupon.objects.filter(partner_id=book.partner_id, user_id=user_id, book=book, state__in=HELD_STATES).count()
    if held >= book.max_codes_per_user:
        raise AssignmentLimitReached(f"The user already holds {held} coupons of this book, the most allowed")


def _coupon_ref(*, partner: Partner, code: str) -> tuple[int, int]:
    """The coupon's id and book id, found case-insensitively within the partner."""
    ref = Coupon.objects.filter(partner=partner, code__iexact=code).values_list("id", "book_id").first()
    if ref is None:
        raise NotFound("No such coupon")
    return ref


def _coupon_id(*, partner: Partner, code: str) -> int:
    return _coupon_ref(partner=partner, code=code)[0]


def coupon_for_update(*, coupon_id: int) -> Coupon:
    """Take the coupon's advisory lock, then read it fresh and lock its row."""
    advisory_xact_lock(LockKind.COUPON, coupon_id)
    return Coupon.objects.select_for_update(of=("self",)).select_related("book").get(pk=coupon_id)


def coupon_expire_lock_if_due(*, coupon: Coupon, now: datetime, actor: Actor = LOCK_EXPIRY) -> bool:
    """An expired lock counts as released: write that down before acting on it."""
    if not coupon.lock_has_expired(now=now):
        return False
    coupon.expire_lock()
    coupon.save(update_fields=["state", "lock_id", "locked_until", "updated_at"])
    event_record(coupon=coupon, action=Action.LOCK_EXPIRED, from_state=CouponState.LOCKED, actor=actor)
    return True


def _ensure_held_by(coupon: Coupon, *, user_id: str) -> None:
    """Refuse a coupon that is not this user's; a void one says so."""
    if coupon.user_id != user_id:
        raise CouponNotHeld("The coupon is not assigned to this user")
    if coupon.state == CouponState.VOID:
        raise CouponVoid("The coupon was voided")


def _unlock(coupon: Coupon, *, actor: Actor) -> Coupon:
    coupon.unlock()
    coupon.save(update_fields=["state", "lock_id", "locked_until", "updated_at"])
    event_record(coupon=coupon, action=Action.UNLOCK, from_state=CouponState.LOCKED, actor=actor)
    return coupon


def _assign(coupon: Coupon, *, user_id: str, now: datetime, actor: Actor) -> Coupon:
    coupon.assign(user_id=user_id, at=now)
    coupon.save(update_fields=["state", "user_id", "assigned_at", "updated_at"])
    event_record(coupon=coupon, action=Action.ASSIGN, from_state=CouponState.AVAILABLE, actor=actor)
    return coupon


def coupon_assign_random(*, book: Book, user_id: str, actor: Actor) -> Coupon:
    """Give ``user_id`` the next coupon of the book in its secret random order."""
    user_id = validate_user_id(user_id)
    with transaction.atomic():
        advisory_xact_lock(LockKind.BOOK_USER, book.pk, user_id)
        now = timezone.now()
        _ensure_book_open(book, now=now)
        _ensure_under_limit(book, user_id=user_id)
        coupon = next(iter(Coupon.objects.raw(PICK_AVAILABLE_SQL, [book.pk])), None)
        if coupon is None:
            raise BookExhausted(f"Book {book.pk} has no available coupon left")
        coupon.book = book
        return _assign(coupon, user_id=user_id, now=now, actor=actor)


def coupon_assign_code(*, partner: Partner, code: str, user_id: str, actor: Actor) -> Coupon:
    """Give ``user_id`` the coupon with this code, if it is still available."""
    user_id = validate_user_id(user_id)
    coupon_id, book_id = _coupon_ref(partner=partner, code=code)
    with transaction.atomic():
        advisory_xact_lock(LockKind.BOOK_USER, book_id, user_id)
        coupon = coupon_for_update(coupon_id=coupon_id)
        now = timezone.now()
        _ensure_book_open(coupon.book, now=now)
        if coupon.state != CouponState.AVAILABLE:
            raise CouponUnavailable("The coupon is not available")
        _ensure_under_limit(coupon.book, user_id=user_id)
        return _assign(coupon, user_id=user_id, now=now, actor=actor)


def coupon_lock(*, partner: Partner, code: str, user_id: str, actor: Actor) -> Coupon:
    """Hold the user's coupon at checkout; the returned coupon carries ``lock_id``."""
    user_id = validate_user_id(user_id)
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=_coupon_id(partner=partner, code=code))
        now = timezone.now()
        _ensure_held_by(coupon, user_id=user_id)
        _ensure_book_open(coupon.book, now=now)
        coupon_expire_lock_if_due(coupon=coupon, now=now)
        if coupon.state == CouponState.LOCKED:
            raise CouponLocked("The coupon is locked already")
        _ensure_uses_remain(coupon)
        coupon.lock(lock_id=uuid.uuid4(), until=now + timedelta(seconds=settings.LOCK_TIMEOUT_SECONDS))
        coupon.save(update_fields=["state", "lock_id", "locked_until", "updated_at"])
        event_record(coupon=coupon, action=Action.LOCK, from_state=CouponState.ASSIGNED, actor=actor)
        return coupon


def coupon_unlock(*, partner: Partner, code: str, user_id: str, lock_id: uuid.UUID, actor: Actor) -> Coupon:
    user_id = validate_user_id(user_id)
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=_coupon_id(partner=partner, code=code))
        now = timezone.now()
        _ensure_held_by(coupon, user_id=user_id)
        if not coupon.lock_is_live(now=now):
            raise CouponNotLocked("The coupon is not locked")
        if coupon.lock_id != lock_id:
            raise CouponLocked("The coupon is locked under another lock id")
        return _unlock(coupon, actor=actor)


def _ensure_uses_remain(coupon: Coupon) -> None:
    remaining = coupon.redemptions_remaining(limit=coupon.book.max_redemptions_per_coupon)
    if coupon.state == CouponState.REDEEMED or remaining == 0:
        raise CouponRedeemed("The coupon has no redemptions left")


def coupon_redeem(
    *,
    partner: Partner,
    code: str,
    user_id: str,
    lock_id: uuid.UUID | None = None,
    metadata: dict | None = None,
    actor: Actor,
) -> tuple[Coupon, Redemption]:
    """Use the coupon once. A locked coupon needs its ``lock_id``; an assigned
    one is locked and redeemed in one step."""
    user_id = validate_user_id(user_id)
    metadata = validate_metadata(metadata)
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=_coupon_id(partner=partner, code=code))
        now = timezone.now()
        _ensure_held_by(coupon, user_id=user_id)
        _ensure_uses_remain(coupon)
        _ensure_book_open(coupon.book, now=now)
        coupon_expire_lock_if_due(coupon=coupon, now=now)
        if coupon.state == CouponState.LOCKED and coupon.lock_id != lock_id:
            raise CouponLocked("The coupon is locked under another lock id")
        from_state = coupon.state
        if coupon.redemptions_remaining(limit=coupon.book.max_redemptions_per_coupon) == 1:
            coupon.redeem_fully()
        else:
            coupon.redeem_partially()
        coupon.save(update_fields=["state", "lock_id", "locked_until", "redemption_count", "updated_at"])
        redemption = Redemption.objects.create(coupon=coupon, user_id=user_id, metadata=metadata)
        event_record(coupon=coupon, action=Action.REDEEM, from_state=from_state, actor=actor, redemption=redemption)
        return coupon, redemption


def coupon_void(*, coupon: Coupon, actor: Actor) -> Coupon:
    """Staff take a coupon out of circulation for good."""
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=coupon.pk)
        if coupon.state == CouponState.VOID:
            raise CouponVoid("The coupon was voided already")
        if coupon.state == CouponState.REDEEMED:
            raise CouponRedeemed("A fully redeemed coupon cannot be voided")
        from_state = coupon.state
        coupon.void()
        coupon.save(update_fields=["state", "lock_id", "locked_until", "updated_at"])
        event_record(coupon=coupon, action=Action.VOID, from_state=from_state, actor=actor)
        return coupon


def coupon_release_lock(*, coupon: Coupon, actor: Actor) -> Coupon:
    """Staff release a lock without its ``lock_id`` (a checkout that died)."""
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=coupon.pk)
        if coupon.state != CouponState.LOCKED:
            raise CouponNotLocked("The coupon is not locked")
        return _unlock(coupon, actor=actor)


def locks_release_expired(*, actor: Actor | None = None, batch_size: int = 1000) -> int:
    """Write back every lock past its time, one ``lock_expired`` event each.

    Safe to run from cron while traffic runs, and twice at once: each coupon is
    re-read under its advisory lock, so a lock released or renewed meanwhile is
    left alone and no event is written twice.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        detail = "batch_size must be a positive integer."
        raise InvalidInput(detail, errors=[{"field": "batch_size", "detail": detail}])
    actor = actor or Actor.system("release_expired_locks")
    released = 0
    while True:
        now = timezone.now()
        due = list(
            Coupon.objects.filter(state=CouponState.LOCKED, locked_until__lte=now)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not due:
            return released
        for coupon_id in due:
            with transaction.atomic():
                coupon = coupon_for_update(coupon_id=coupon_id)
                released += coupon_expire_lock_if_due(coupon=coupon, now=timezone.now(), actor=actor)
        if len(due) < batch_size:
            return released
