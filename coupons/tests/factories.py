import contextlib
import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from unittest import mock

import factory
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent, EventAction
from coupons.services import coupon_assign_code, coupon_lock
from coupons.sort_keys import SORT_KEY_MAX
from couponsite.actors import Actor

# Who adds codes in tests that are not about who did.
OPERATOR = Actor.system("tests")


def random_sort_key() -> int:
    return secrets.randbelow(SORT_KEY_MAX + 1)


class CouponFactory(factory.django.DjangoModelFactory):
    """An available coupon; move it along its lifecycle through the services."""

    class Meta:
        model = Coupon

    book = factory.SubFactory(BookFactory)
    partner = factory.SelfAttribute("book.partner")
    code = factory.Sequence(lambda n: f"CODE-{n:06d}")
    sort_key = factory.LazyFunction(random_sort_key)


def make_coupons(book, count: int, prefix: str = "C") -> list[Coupon]:
    """``count`` available coupons in ``book``, inserted in one statement."""
    return Coupon.objects.bulk_create(
        Coupon(book=book, partner=book.partner, code=f"{prefix}{book.pk}-{i:07d}", sort_key=random_sort_key())
        for i in range(count)
    )


def expire(coupon: Coupon) -> None:
    """Move the coupon's lock into the past, as the clock would."""
    Coupon.objects.filter(pk=coupon.pk).update(locked_until=timezone.now() - timedelta(seconds=1))


def locked_coupon(actor) -> tuple[Coupon, uuid.UUID]:
    coupon = CouponFactory()
    coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)
    locked = coupon_lock(partner=coupon.partner, code=coupon.code, user_id="alice", actor=actor)
    return coupon, locked.lock_id


@contextlib.contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Django's clock reads ``moment`` in the block: what the services write
    then (events, assignments) is dated so, as if it had happened then. Events
    cannot be back-dated afterwards: the table refuses updates."""
    with mock.patch.object(timezone, "now", return_value=moment):
        yield


class BookEventFactory(factory.django.DjangoModelFactory):
    """A book-level event (codes added), recorded at ``created_at`` (now by default)."""

    class Meta:
        model = CouponEvent

    book = factory.SubFactory(BookFactory)
    partner = factory.SelfAttribute("book.partner")
    action = EventAction.CODES_ADDED
    actor_kind = "system"
    actor_id = "tests"
    data = factory.LazyAttribute(lambda event: {"book_id": event.book.pk, "count": 1, "method": "generate"})
    created_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, created_at: datetime, **kwargs):
        with clock_at(created_at):  # auto_now_add reads the clock
            return super()._create(model_class, *args, **kwargs)


def days_ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)
