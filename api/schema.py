"""OpenAPI pieces: the API-key scheme, the problem schema and its examples."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from api.idempotency import HEADER, REPLAYED_HEADER
from api.problems import PROBLEM_CONTENT_TYPE, problem_body
from couponsite.bounds import IDEMPOTENCY_KEY_MAX_LENGTH, USER_ID_MAX_LENGTH
from couponsite.errors import ERRORS, ErrorCode


class PartnerAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.PartnerAPIKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; a key comes from `python manage.py create_partner NAME` or the admin.",
        }


class StrictCharFieldPattern(OpenApiSerializerFieldExtension):
    """A strict string says in the schema which characters it takes."""

    target_class = "api.fields.StrictCharField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        mapped = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**mapped, "pattern": self.target.schema_pattern}


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(required=False, help_text="The field, dotted for nested ones (`codes.3`).")
    detail = serializers.CharField(required=False)
    line = serializers.IntegerField(required=False, help_text="Upload row, 1-based.")
    value = serializers.CharField(required=False, help_text="Upload row's value.")
    reason = serializers.CharField(required=False, help_text="Why the upload row was refused.")


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem: every error the API returns."""

    type = serializers.CharField(help_text="A URI naming the problem type: `/api/problems/{code}`.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=[(code.value, error.when) for code, error in ERRORS.items()])
    errors = FieldErrorSerializer(many=True, required=False, help_text="Field or row details.")


def _example(code: ErrorCode) -> OpenApiExample:
    errors = None
    if code == ErrorCode.VALIDATION_ERROR:
        errors = [{"field": "user_id", "detail": f"Must be a string of 1 to {USER_ID_MAX_LENGTH} characters."}]
    body = problem_body(code=code, errors=errors)
    return OpenApiExample(code.value, value=body, status_codes=[str(ERRORS[code].status)], response_only=True)


def problems(*codes: ErrorCode) -> dict[tuple[int, str], OpenApiResponse]:
    """Problem responses for ``codes`` plus those every endpoint can give."""
    wanted = [
        ErrorCode.VALIDATION_ERROR,
        ErrorCode.NOT_AUTHENTICATED,
        ErrorCode.PERMISSION_DENIED,
        *codes,
        ErrorCode.NOT_ACCEPTABLE,
        ErrorCode.THROTTLED,
        ErrorCode.SERVICE_UNAVAILABLE,
    ]
    by_status: dict[int, list[ErrorCode]] = {}
    for code in dict.fromkeys(wanted):
        by_status.setdefault(ERRORS[code].status, []).append(code)
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            ProblemSerializer,
            description=" ".join(f"`{code}`: {ERRORS[code].when}" for code in status_codes),
            examples=[_example(code) for code in status_codes],
        )
        for status, status_codes in sorted(by_status.items())
    }


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (1 to 255 visible ASCII characters). A retry with the same key and request within 24 "
        f"hours gets the first response again, with `{REPLAYED_HEADER}: true`, and changes nothing."
    ),
    pattern=rf"^[\x20-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}$",
)
IDEMPOTENCY_CODES = (
    ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT,
    ErrorCode.IDEMPOTENCY_KEY_REUSED,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
)


def example(name: str, value: Any, *, request: bool = False, status: int = 200) -> OpenApiExample:
    if request:
        return OpenApiExample(name, value=value, request_only=True)
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


BOOK = {
    "id": 7,
    "name": "Spring sale",
    "description": "10 % off shoes",
    "max_codes_per_user": 1,
    "max_redemptions_per_coupon": 1,
    "assignment_ttl_seconds": None,
    "valid_from": "2026-03-01T00:00:00Z",
    "valid_until": "2026-06-01T00:00:00Z",
    "code_pattern": "####-####-####",
    "charset": "unambiguous",
    "is_active": True,
    "created_at": "2026-02-20T09:30:00Z",
    "metadata": {},
}
COUNTS = {"available": 9997, "assigned": 2, "locked": 0, "redeemed": 1, "void": 0, "total": 10000}
COUPON = {
    "code": "7KQ2-XW9M-4TRP",
    "book_id": 7,
    "state": "assigned",
    "user_id": "customer-42",
    "assigned_at": "2026-03-02T10:00:00Z",
    "locked_until": None,
    "redemption_count": 0,
    "redemptions_remaining": 1,
    "metadata": {},
}
RETURNED_COUPON = {**COUPON, "state": "available", "user_id": None, "assigned_at": None}
BATCH_RESULTS = {
    "results": [
        {"user_id": "customer-42", "coupon": COUPON},
        {"user_id": "customer-43", "coupon": {**COUPON, "code": "9HRT-2MXK-8PQW", "user_id": "customer-43"}},
        {
            "user_id": "customer-44",
            "error": {
                "code": "assignment_limit_reached",
                "detail": "The user already holds 1 coupons of this book, the most allowed",
            },
        },
    ]
}
LOCKED_COUPON = {
    **COUPON,
    "state": "locked",
    "locked_until": "2026-03-02T10:05:00Z",
    "lock_id": "0b9f3c52-6f0e-4c8e-9a57-2f1f0c6f8e11",
}
REDEEMED_COUPON = {
    **COUPON,
    "state": "redeemed",
    "redemption_count": 1,
    "redemptions_remaining": 0,
    "redemption": {
        "id": "5d1e2f8a-3b4c-4d5e-8f9a-0b1c2d3e4f5a",
        "created_at": "2026-03-02T10:01:00Z",
        "metadata": {"order_id": "A-1001"},
    },
}
STATS = {
    "book_id": 7,
    "counts": COUNTS,
    "days": [
        {"date": "2026-03-01", "assignments": 0, "redemptions": 0},
        {"date": "2026-03-02", "assignments": 2, "redemptions": 1},
    ],
    "days_left": 34993.0,
}
REDEMPTION = {
    "id": "5d1e2f8a-3b4c-4d5e-8f9a-0b1c2d3e4f5a",
    "code": "7KQ2-XW9M-4TRP",
    "book_id": 7,
    "user_id": "customer-42",
    "created_at": "2026-03-02T10:01:00Z",
    "metadata": {"order_id": "A-1001"},
    "rolled_back_at": None,
    "rollback_reason": None,
}
EVENT = {
    "id": 31,
    "action": "assign",
    "from_state": "available",
    "to_state": "assigned",
    "user_id": "customer-42",
    "actor_kind": "api_key",
    "actor_id": "Xy7pQ2rS",
    "redemption_id": None,
    "request_id": "4f0d8c1e6a2b4c3d9e8f7a6b5c4d3e2f",
    "created_at": "2026-03-02T10:00:00Z",
}
ERASURE = {"coupons": 2, "events": 7, "redemptions": 1}
ME = {
    "partner": {"id": 3, "name": "Acme Shoes"},
    "api_key": {"prefix": "Xy7pQ2rS", "name": "checkout-prod", "created_at": "2026-02-20T09:00:00Z"},
}
FEED_PAGE = {
    "next": "https://coupons.example/api/v1/events?after=32",
    "results": [
        {"id": 31, "type": "coupon.assigned", "created_at": "2026-03-02T10:00:00Z", "data": COUPON},
        {
            "id": 32,
            "type": "book.codes_added",
            "created_at": "2026-03-02T10:00:01Z",
            "data": {"book_id": 7, "count": 10000, "method": "generate"},
        },
    ],
    "retention_days": 400,
    "available_since": "2025-01-26T04:47:00Z",
}
