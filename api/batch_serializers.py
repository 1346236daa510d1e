"""Request and response shapes of the batch assignment (``POST /books/{book_id}/coupons/assign``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.coupon_serializers import CouponSerializer
from api.fields import USER_ID_SCHEMA, user_id_field
from api.serializers import rendered
from coupons.models import Coupon
from couponsite.bounds import BATCH_USERS_MAX
from couponsite.errors import ERRORS, ErrorCode


@extend_schema_field(
    {
        "type": "array",
        "items": USER_ID_SCHEMA,
        "minItems": 1,
        "maxItems": BATCH_USERS_MAX,
        "uniqueItems": True,
    }
)
class UserIdListField(serializers.ListField):
    """Distinct user ids; a repeated one is refused by the service, which names its index."""


class BatchAssignSerializer(serializers.Serializer):
    user_ids = UserIdListField(
        child=user_id_field(),
        min_length=1,
        max_length=BATCH_USERS_MAX,
        help_text=f"1 to {BATCH_USERS_MAX:,} distinct user ids; each gets one coupon drawn at random.",
    )


BATCH_ERROR_CODES = (ErrorCode.ASSIGNMENT_LIMIT_REACHED, ErrorCode.BOOK_EXHAUSTED)


class BatchErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[(code.value, ERRORS[code].when) for code in BATCH_ERROR_CODES])
    detail = serializers.CharField()


class BatchResultSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    coupon = CouponSerializer(required=False, help_text="The coupon given; absent when `error` is there.")
    error = BatchErrorSerializer(required=False, help_text="Why this user got none; absent when `coupon` is there.")

    def to_representation(self, result: tuple[str, Any]) -> dict[str, Any]:
        user_id, outcome = result
        if isinstance(outcome, Coupon):
            return {"user_id": user_id, "coupon": rendered(CouponSerializer, outcome)}
        return {"user_id": user_id, "error": {"code": outcome.code.value, "detail": outcome.detail}}


class BatchAssignResultSerializer(serializers.Serializer):
    results = BatchResultSerializer(many=True, help_text="One per user, in the request's order.")
