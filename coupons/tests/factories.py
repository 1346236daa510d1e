import secrets
import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon
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
