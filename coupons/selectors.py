"""Reads of coupons and their history, with an expired lock read as released
and an expired assignment as available."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from books.models import Book, Partner
from coupons.models import Coupon, CouponEvent, CouponState, EventAction
from coupons.rows import COUPON_AND_BOOK_SQL, coupon_with_book_from_row
from couponsite.errors import InvalidInput, NotFound

EXPORT_COLUMNS = ("code", "state", "user_id", "assigned_at", "redemption_count")
EXPORT_CHUNK = 5_000


def _in_effective_state(coupons: QuerySet[Coupon], state: str) -> QuerySet[Coupon]:
    if state not in CouponState.values:
        raise InvalidInput.field("state", f"state must be one of {', '.join(CouponState.values)}.")
    return coupons.in_effective_state(state, now=timezone.now())


COUPON_BY_CODE_SQL = f"""
{COUPON_AND_BOOK_SQL} WHERE coupon.partner_id = %(partner_id)s AND upper(coupon.code) = upper(%(code)s)
"""


def coupon_get(*, partner: Partner, code: str) -> Coupon:
    """The partner's coupon with this code, in any case, with its book."""
    with connection.cursor() as cursor:
        cursor.execute(COUPON_BY_CODE_SQL, {"partner_id": partner.pk, "code": code})
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such coupon")
    return coupon_with_book_from_row(row)


def coupon_list_for_book(*, book: Book, state: str | None = None, user_id: str | None = None) -> QuerySet[Coupon]:
    coupons = Coupon.objects.filter(book=book).select_related("book")
    if state:
        coupons = _in_effective_state(coupons, state)
    if user_id:
        coupons = coupons.filter(partner_id=book.partner_id).of_user(user_id, now=timezone.now())
    return coupons.order_by("id")


def coupon_list_for_user(
    *, partner: Partner, user_id: str, book_id: int | None = None, state: str | None = None
) -> QuerySet[Coupon]:
    coupons = Coupon.objects.filter(partner=partner).of_user(user_id, now=timezone.now()).select_related("book")
    if book_id is not None:
        coupons = coupons.filter(book_id=book_id)
    if state:
        coupons = _in_effective_state(coupons, state)
    return coupons.order_by("id")


def coupon_history(*, coupon: Coupon) -> QuerySet[CouponEvent]:
    return CouponEvent.objects.filter(coupon=coupon).order_by("id")


def day_start(day: date) -> datetime:
    """The first moment of a UTC day."""
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone())


def assignments_per_day(*, book: Book, first: date) -> dict[date, int]:
    """Assignments of the book's coupons on each UTC day since ``first``, by day (days without any left out)."""
    rows = (
        CouponEvent.objects.filter(coupon__book=book, action=EventAction.ASSIGN, created_at__gte=day_start(first))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    return dict(rows)


def assignments_since(*, book: Book, since: datetime) -> int:
    return CouponEvent.objects.filter(coupon__book=book, action=EventAction.ASSIGN, created_at__gte=since).count()


def book_state_counts(*, book: Book) -> dict[str, int]:
    """How many of the book's coupons are in each state, in one scan."""
    return Coupon.objects.filter(book=book).state_counts(now=timezone.now())


def coupon_export_rows(
    *, book: Book, state: str | None = None, database: str = DEFAULT_DB_ALIAS
) -> Iterator[tuple[str, str, str | None, object, int]]:
    """The book's coupons as ``EXPORT_COLUMNS``, oldest first, streamed from a
    server-side cursor on ``database``; the state (and the ``state`` filter) as
    partners see it."""
    coupons = coupon_list_for_book(book=book, state=state).using(database).with_effective_state(now=timezone.now())
    return coupons.values_list("code", "effective_state", "user_id", "assigned_at", "redemption_count").iterator(
        chunk_size=EXPORT_CHUNK
    )
