"""Reads of redemptions."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime, timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from books.models import Book, Partner
from coupons.models import Coupon, CouponState
from coupons.selectors import assignments_per_day, assignments_since, book_state_counts, day_start
from couponsite.errors import NotFound
from redemptions.models import Redemption

DAYS = 30
# days_left assumes the assignments of this many last days go on at that rate.
RATE_DAYS = 7


@dataclasses.dataclass(frozen=True)
class Day:
    day: date
    assignments: int
    redemptions: int


@dataclasses.dataclass(frozen=True)
class BookStats:
    counts: dict[str, int]
    days: list[Day]
    days_left: float | None  # None: nothing assigned in the last RATE_DAYS days


def book_stats(*, book: Book, days: int = DAYS, now: datetime | None = None) -> BookStats:
    """The book's coupons by state, its assignments and redemptions on each of
    the last ``days`` UTC days (oldest first, zero-filled), and the days until
    its available coupons run out at the last ``RATE_DAYS`` days' assignment rate."""
    now = now or timezone.now()
    first = now.date() - timedelta(days=days - 1)
    assigned = assignments_per_day(book=book, first=first)
    redeemed = dict(redemptions_per_day(book=book, today=now.date(), days=days))
    counts = book_state_counts(book=book)
    recent = assignments_since(book=book, since=now - timedelta(days=RATE_DAYS))
    return BookStats(
        counts=counts,
        days=[Day(day, assigned.get(day, 0), redeemed[day]) for day in sorted(redeemed)],
        days_left=round(counts[CouponState.AVAILABLE] * RATE_DAYS / recent, 1) if recent else None,
    )


def redemption_get(*, partner: Partner, redemption_id: uuid.UUID) -> Redemption:
    """The partner's redemption; another partner's is as missing as one that never was."""
    redemption = Redemption.objects.select_related("coupon").filter(pk=redemption_id, coupon__partner=partner).first()
    if redemption is None:
        raise NotFound("No such redemption")
    return redemption


def redemption_list_for_coupon(*, coupon: Coupon) -> QuerySet[Redemption]:
    """The coupon's redemptions, rolled back ones included (the pagination orders them)."""
    return Redemption.objects.filter(coupon=coupon).select_related("coupon")


def redemptions_per_day(*, book: Book, today: date | None = None, days: int = DAYS) -> list[tuple[date, int]]:
    """Redemptions of the book's coupons on each of the last ``days`` days (UTC),
    oldest first, days without any included. Rolled-back redemptions do not count:
    their use was given back."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows = (
        Redemption.objects.filter(coupon__book=book, created_at__gte=day_start(first), rolled_back_at__isnull=True)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    by_day = dict(rows)
    return [(first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0)) for i in range(days)]
