"""Reads of coupons and their history, with an expired lock read as released."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from books.models import Book, Partner
from coupons.models import Coupon, CouponEvent, CouponState
from couponsite.errors import InvalidInput, NotFound


def effective_state_filter(state: str) -> Q:
    """A filter matching coupons whose state, as partners see it, is ``state``."""
    if state not in CouponState.values:
        detail = f"state must be one of {', '.join(CouponState.values)}."
        raise InvalidInput(detail, errors=[{"field": "state", "detail": detail}])
    now = timezone.now()
    if state == CouponState.ASSIGNED:
        return Q(state=CouponState.ASSIGNED) | Q(state=CouponState.LOCKED, locked_until__lte=now)
    if state == CouponState.LOCKED:
        return Q(state=CouponState.LOCKED, locked_until__gt=now)
    return Q(state=state)


def coupon_get(*, partner: Partner, code: str) -> Coupon:
    """The partner's coupon with this code, in any case."""
    coupon = Coupon.objects.select_related("book").filter(partner=partner, code__iexact=code).first()
    if coupon is None:
        raise NotFound("No such coupon")
    return coupon


def coupon_list_for_book(*, book: Book, state: str | None = None, user_id: str | None = None) -> QuerySet[Coupon]:
    coupons = Coupon.objects.filter(book=book).select_related("book")
    if state:
        coupons = coupons.filter(effective_state_filter(state))
    if user_id:
        coupons = coupons.filter(partner_id=book.partner_id, user_id=user_id)
    return coupons.order_by("id")


def coupon_list_for_user(
    *, partner: Partner, user_id: str, book_id: int | None = None, state: str | None = None
) -> QuerySet[Coupon]:
    coupons = Coupon.objects.filter(partner=partner, user_id=user_id).select_related("book")
    if book_id is not None:
        coupons = coupons.filter(book_id=book_id)
    if state:
        coupons = coupons.filter(effective_state_filter(state))
    return coupons.order_by("id")


def coupon_history(*, coupon: Coupon) -> QuerySet[CouponEvent]:
    return CouponEvent.objects.filter(coupon=coupon).order_by("id")


def book_state_counts(*, book: Book) -> dict[str, int]:
    """How many of the book's coupons are in each state, in one scan."""
    now = timezone.now()
    live_lock = Q(state=CouponState.LOCKED, locked_until__gt=now)
    counts = Coupon.objects.filter(book=book).aggregate(
        available=Count("id", filter=Q(state=CouponState.AVAILABLE)),
        assigned=Count("id", filter=Q(state=CouponState.ASSIGNED) | (Q(state=CouponState.LOCKED) & ~live_lock)),
        locked=Count("id", filter=live_lock),
        redeemed=Count("id", filter=Q(state=CouponState.REDEEMED)),
        void=Count("id", filter=Q(state=CouponState.VOID)),
        total=Count("id"),
    )
    return counts
