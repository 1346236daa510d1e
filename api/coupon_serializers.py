"""The coupon as the partner API answers with it: as it stands at one moment
(``CouponNow``), plain, locked or just redeemed. Every answer of the hot path
is one of these, so their fields are written out by hand, as DRF renders the
fields they declare (api/tests/test_coupon_representation.py holds them equal)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from coupons.events import snapshot_time
from coupons.models import Coupon, CouponState
from redemptions.models import Redemption


@dataclasses.dataclass(frozen=True)
class CouponNow:
    """A coupon as partners see it at one moment: a lock past its time reads as
    released, an assignment past its book's TTL as available (nobody's), and
    a use count as what is left under the book's limit."""

    code: str
    book_id: int
    state: str
    user_id: str | None
    assigned_at: datetime | None
    locked_until: datetime | None
    redemption_count: int
    redemptions_remaining: int | None
    lock_id: uuid.UUID | None
    redemption: Redemption | None
    metadata: dict

    @classmethod
    def of(cls, coupon: Coupon, *, now: datetime, redemption: Redemption | None = None) -> CouponNow:
        live = coupon.lock_is_live(now=now)
        returned = coupon.assignment_has_expired(now=now)
        return cls(
            code=coupon.code,
            book_id=coupon.book_id,
            state=coupon.effective_state(now=now),
            user_id=None if returned else coupon.user_id,
            assigned_at=None if returned else coupon.assigned_at,
            locked_until=coupon.locked_until if live else None,
            redemption_count=coupon.redemption_count,
            redemptions_remaining=coupon.redemptions_remaining(limit=coupon.book.max_redemptions_per_coupon),
            lock_id=coupon.lock_id if live else None,
            redemption=redemption,
            metadata=coupon.metadata,
        )

    @classmethod
    def now_of(cls, coupon: Coupon | CouponNow) -> CouponNow:
        """``coupon`` as it stands now, unless it is already a moment's view."""
        return cls.of(coupon, now=timezone.now()) if isinstance(coupon, Coupon) else coupon


class CouponSerializer(serializers.Serializer):
    code = serializers.CharField()
    book_id = serializers.IntegerField()
    state = serializers.ChoiceField(
        choices=CouponState.choices,
        help_text="As it stands now: a lock past its time reads as assigned, an assignment past the book's "
        "`assignment_ttl_seconds` as available.",
    )
    user_id = serializers.CharField(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    locked_until = serializers.DateTimeField(allow_null=True, help_text="Set while a lock is live.")
    redemption_count = serializers.IntegerField()
    redemptions_remaining = serializers.IntegerField(allow_null=True, help_text="null means unlimited.")
    metadata = serializers.DictField(help_text="Your own data, set with PATCH /coupons/{code}.")

    # Written out: DRF's field by field walk cost a tenth of a write's time.
    def to_representation(self, coupon: Coupon | CouponNow) -> dict[str, Any]:
        coupon = CouponNow.now_of(coupon)
        return {
            "code": coupon.code,
            "book_id": coupon.book_id,
            "state": str(coupon.state),
            "user_id": coupon.user_id,
            "assigned_at": snapshot_time(coupon.assigned_at),
            "locked_until": snapshot_time(coupon.locked_until),
            "redemption_count": coupon.redemption_count,
            "redemptions_remaining": coupon.redemptions_remaining,
            "metadata": dict(coupon.metadata),
        }


class LockedCouponSerializer(CouponSerializer):
    lock_id = serializers.UUIDField(help_text="Present it to unlock or redeem.")

    def to_representation(self, coupon: Coupon | CouponNow) -> dict[str, Any]:
        coupon = CouponNow.now_of(coupon)
        lock_id = None if coupon.lock_id is None else str(coupon.lock_id)
        return {**super().to_representation(coupon), "lock_id": lock_id}


class RedemptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Redemption
        fields = ["id", "created_at", "metadata"]

    def to_representation(self, redemption: Redemption) -> dict[str, Any]:
        return {
            "id": str(redemption.pk),
            "created_at": snapshot_time(redemption.created_at),
            "metadata": redemption.metadata,
        }


REDEMPTION_ANSWER = RedemptionSerializer()


class RedeemedCouponSerializer(CouponSerializer):
    """The coupon and the redemption just made (``CouponNow.redemption``)."""

    redemption = RedemptionSerializer()

    def to_representation(self, coupon: CouponNow) -> dict[str, Any]:
        redemption = coupon.redemption
        shown = None if redemption is None else REDEMPTION_ANSWER.to_representation(redemption)
        return {**super().to_representation(coupon), "redemption": shown}
