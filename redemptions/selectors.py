"""Reads of redemptions."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from books.models import Book, Partner
from coupons.models import Coupon
from couponsite.errors import NotFound
from redemptions.models import Redemption

DAYS = 30


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
    start = datetime.combine(first, datetime.min.time(), tzinfo=timezone.get_current_timezone())
    rows = (
        Redemption.objects.filter(coupon__book=book, created_at__gte=start, rolled_back_at__isnull=True)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    by_day = dict(rows)
    return [(first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0)) for i in range(days)]
