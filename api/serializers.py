"""Request parsing and response shapes. No rule lives here beyond the shape and
range of each field: the services decide everything else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from books.selectors import ID_MAX
from books.services import MAX_LIMIT
from coupons.bulk import MAX_CODES_PER_REQUEST
from coupons.models import CODE_MAX_LENGTH, USER_ID_MAX_LENGTH, Coupon, CouponEvent, CouponState
from coupons.services import metadata_problem
from couponsite.actors import ActorKind
from redemptions.models import Redemption
from redemptions.services import ROLLBACK_REASON_MAX_LENGTH


class SafeDateTimeField(serializers.DateTimeField):
    """A date-time whose conversion to UTC may leave the calendar (year 1 at
    +14:00) is invalid input, not a server error."""

    def to_internal_value(self, value: Any) -> datetime:
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("invalid", format="ISO 8601")


def user_id_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        min_length=1,
        max_length=USER_ID_MAX_LENGTH,
        trim_whitespace=False,
        help_text="The partner's own id of its end user: 1 to 128 characters, opaque to us.",
        **kwargs,
    )


def limit_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, allow_null=True, **kwargs)


class BookWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, allow_blank=True, required=False)
    max_codes_per_user = limit_field(required=False, help_text="Coupons one user may hold; null means unlimited.")
    max_redemptions_per_coupon = limit_field(
        required=False, help_text="1 (the default) for single use; more, or null for unlimited, for gift cards."
    )
    valid_from = SafeDateTimeField(allow_null=True, required=False)
    valid_until = SafeDateTimeField(allow_null=True, required=False)
    code_pattern = serializers.CharField(
        max_length=CODE_MAX_LENGTH, required=False, help_text="Default pattern for generation; '#' is random."
    )
    is_active = serializers.BooleanField(required=False)


class BookCountsSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    assigned = serializers.IntegerField()
    locked = serializers.IntegerField()
    redeemed = serializers.IntegerField()
    void = serializers.IntegerField()
    total = serializers.IntegerField()


class BookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    max_codes_per_user = serializers.IntegerField(allow_null=True)
    max_redemptions_per_coupon = serializers.IntegerField(allow_null=True)
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    code_pattern = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class BookDetailSerializer(BookSerializer):
    counts = BookCountsSerializer(help_text="Coupons by state as partners see it (an expired lock is assigned).")


class CodesGenerateSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_CODES_PER_REQUEST)
    pattern = serializers.CharField(
        max_length=CODE_MAX_LENGTH, required=False, help_text="Defaults to the book's code_pattern."
    )


class CodesUploadJSONSerializer(serializers.Serializer):
    codes = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        allow_empty=False,
        max_length=MAX_CODES_PER_REQUEST,
        help_text="Item n is row n in the errors.",
    )


class CodesUploadFileSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, one code a row, optional header `code`; at most 100,000 rows.")


class CreatedSerializer(serializers.Serializer):
    created = serializers.IntegerField()


class AssignRandomSerializer(serializers.Serializer):
    book_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    user_id = user_id_field()


class UserSerializer(serializers.Serializer):
    user_id = user_id_field()


class UnlockSerializer(serializers.Serializer):
    user_id = user_id_field()
    lock_id = serializers.UUIDField()


class RedeemSerializer(serializers.Serializer):
    user_id = user_id_field()
    lock_id = serializers.UUIDField(required=False, allow_null=True, help_text="Required when the coupon is locked.")
    metadata = serializers.DictField(
        required=False, help_text="Your own JSON object (order id...), at most 4 KB, stored with the redemption."
    )

    def validate_metadata(self, metadata: dict) -> dict:
        problem = metadata_problem(metadata)
        if problem:
            raise serializers.ValidationError(problem)
        return metadata


class RollbackSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=ROLLBACK_REASON_MAX_LENGTH, allow_blank=True, required=False, default="")


class CouponSerializer(serializers.Serializer):
    code = serializers.CharField()
    book_id = serializers.IntegerField()
    state = serializers.ChoiceField(
        choices=CouponState.choices, help_text="As it stands now: a lock past its time reads as assigned."
    )
    user_id = serializers.CharField(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    locked_until = serializers.DateTimeField(allow_null=True, help_text="Set while a lock is live.")
    redemption_count = serializers.IntegerField()
    redemptions_remaining = serializers.IntegerField(allow_null=True, help_text="null means unlimited.")

    def to_representation(self, coupon: Coupon) -> dict[str, Any]:
        now = self.context.get("now") or timezone.now()
        live = coupon.lock_is_live(now=now)
        dt = self.fields["assigned_at"]
        return {
            "code": coupon.code,
            "book_id": coupon.book_id,
            "state": coupon.effective_state(now=now),
            "user_id": coupon.user_id,
            "assigned_at": dt.to_representation(coupon.assigned_at) if coupon.assigned_at else None,
            "locked_until": dt.to_representation(coupon.locked_until) if live else None,
            "redemption_count": coupon.redemption_count,
            "redemptions_remaining": coupon.redemptions_remaining(limit=coupon.book.max_redemptions_per_coupon),
        }


class LockedCouponSerializer(CouponSerializer):
    lock_id = serializers.UUIDField(help_text="Present it to unlock or redeem.")

    def to_representation(self, coupon: Coupon) -> dict[str, Any]:
        return {**super().to_representation(coupon), "lock_id": str(coupon.lock_id)}


class RedemptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Redemption
        fields = ["id", "created_at", "metadata"]


class RedeemedCouponSerializer(CouponSerializer):
    redemption = RedemptionSerializer()

    def to_representation(self, coupon: Coupon) -> dict[str, Any]:
        redemption = RedemptionSerializer(self.context["redemption"]).data
        return {**super().to_representation(coupon), "redemption": redemption}


class CouponEventSerializer(serializers.ModelSerializer):
    actor_id = serializers.SerializerMethodField(help_text="The API key prefix for API calls; null otherwise.")
    redemption_id = serializers.UUIDField(allow_null=True, read_only=True)

    class Meta:
        model = CouponEvent
        fields = [
            "id",
            "action",
            "from_state",
            "to_state",
            "user_id",
            "actor_kind",
            "actor_id",
            "redemption_id",
            "request_id",
            "created_at",
        ]

    def get_actor_id(self, event: CouponEvent) -> str | None:
        # Staff user ids and job names are ours, not the partner's business.
        return event.actor_id if event.actor_kind == ActorKind.API_KEY else None
