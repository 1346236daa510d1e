import factory

from books.tests.factories import BookFactory
from coupons.codes import random_sort_key
from coupons.models import Coupon


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
