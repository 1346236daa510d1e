"""What the delivery tests share: a partner with a stocked book, an endpoint
on a local receiver, a clock the test moves, and a fan-out that waits for the
feed's horizon (another test's open transaction on the same server holds it)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.utils import timezone

from books.tests.factories import BookFactory, PartnerFactory
from coupons.models import Coupon
from coupons.tests.factories import make_coupons
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbox import outbox_fan_out
from webhooks.services import webhook_create

HORIZON_WAIT_SECONDS = 250


class Clock:
    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def resolving_to(*addresses: str):
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def stocked_book(coupons: int = 5):
    partner = PartnerFactory()
    book = BookFactory(partner=partner)
    make_coupons(book, coupons, prefix=f"P{partner.pk}X")
    return partner, book


def endpoint_for(partner, url: str, **fields) -> WebhookEndpoint:
    return webhook_create(partner=partner, url=url, event_types=fields.pop("event_types", []), **fields)


def book_coupons(book) -> list[Coupon]:
    return list(Coupon.objects.filter(book=book).order_by("id"))


def fan_out_until(endpoint: WebhookEndpoint, expect: int, *, now: datetime | None = None) -> int:
    """Fan out until the endpoint has ``expect`` deliveries (or the wait ends)."""
    deadline = time.monotonic() + HORIZON_WAIT_SECONDS
    while True:
        outbox_fan_out(endpoint=endpoint, now=now or timezone.now())
        count = WebhookDelivery.objects.filter(endpoint=endpoint).count()
        if count >= expect or time.monotonic() > deadline:
            return count
        time.sleep(0.05)
