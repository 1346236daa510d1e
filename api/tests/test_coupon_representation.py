"""The coupon answers of the hot path are written out by hand
(``CouponSerializer.to_representation`` and its subclasses): they must be
exactly what DRF renders from the fields they declare, for every state."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from api.coupon_serializers import (
    CouponNow,
    CouponSerializer,
    LockedCouponSerializer,
    RedeemedCouponSerializer,
    RedemptionSerializer,
)
from books.tests.factories import BookFactory
from coupons.models import Coupon
from coupons.services import coupon_assign_code, coupon_lock
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from redemptions.services import coupon_redeem

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def by_drf(serializer_class, instance):
    """DRF's own walk over the declared fields (what the classes replaced)."""
    serializer = serializer_class()
    if serializer_class is RedeemedCouponSerializer:
        shown = serializers.Serializer.to_representation(serializer, instance)
        redemption = instance.redemption
        shown["redemption"] = serializers.Serializer.to_representation(RedemptionSerializer(), redemption)
        return shown
    return serializers.Serializer.to_representation(serializer, instance)


def coupons_in_every_state():
    book = BookFactory(max_redemptions_per_coupon=2, assignment_ttl_seconds=3600)
    _available, assigned, locked, redeemed, with_metadata = make_coupons(book, 5)
    coupon_assign_code(partner=book.partner, code=assigned.code, user_id="u-1", actor=SYSTEM)
    coupon_assign_code(partner=book.partner, code=locked.code, user_id="u-2", actor=SYSTEM)
    coupon_lock(partner=book.partner, code=locked.code, user_id="u-2", actor=SYSTEM)
    coupon_assign_code(partner=book.partner, code=redeemed.code, user_id="u-3", actor=SYSTEM)
    _, redemption = coupon_redeem(
        partner=book.partner, code=redeemed.code, user_id="u-3", metadata={"order": "A-1"}, actor=SYSTEM
    )
    Coupon.objects.filter(pk=with_metadata.pk).update(metadata={"campaign": {"name": "spring", "wave": 2}})
    return list(Coupon.objects.filter(book=book).select_related("book").order_by("id")), redemption


@pytest.mark.parametrize("later", [timedelta(0), timedelta(hours=2)])
def test_every_coupon_answer_is_what_drf_renders(later):
    coupons, redemption = coupons_in_every_state()
    now = timezone.now() + later  # two hours on: locks past their time, assignments past the TTL
    for coupon in coupons:
        shown = CouponNow.of(coupon, now=now)
        for serializer_class in (CouponSerializer, LockedCouponSerializer):
            assert serializer_class().to_representation(shown) == by_drf(serializer_class, shown)
    redeemed = next(coupon for coupon in coupons if coupon.redemption_count)
    shown = CouponNow.of(redeemed, now=now, redemption=redemption)
    assert RedeemedCouponSerializer().to_representation(shown) == by_drf(RedeemedCouponSerializer, shown)
    assert list(RedeemedCouponSerializer().to_representation(shown)) == list(by_drf(RedeemedCouponSerializer, shown))
