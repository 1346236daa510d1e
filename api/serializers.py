"""Request parsing and response shapes. No rule lives here beyond the shape and
range of each field (from ``couponsite.bounds``): the services decide the rest."""

from __future__ import annotations

import functools
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import (
    NON_BLANK_TEXT_REGEX,
    MetadataField,
    SafeDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
    WholeNumberQueryField,
    user_id_field,
)
from books.codes import CHARSET_REGEX, CODE_REGEX, CUSTOM_CHARSET_LENGTH, PATTERN_REGEX
from coupons.models import CouponEvent
from couponsite.actors import ActorKind
from couponsite.bounds import (
    ASSIGNMENT_TTL_SECONDS_MAX,
    ASSIGNMENT_TTL_SECONDS_MIN,
    CODE_MAX_LENGTH,
    CODES_PER_REQUEST_MAX,
    DESCRIPTION_MAX_LENGTH,
    ID_MAX,
    LIMIT_MAX,
    NAME_MAX_LENGTH,
    REASON_MAX_LENGTH,
    STATS_DAYS_MAX,
)
from redemptions.models import Redemption


def limit_field(**kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=LIMIT_MAX, allow_null=True, **kwargs)


METADATA_HELP = (
    "Your own data: a JSON object of at most 4 KB of UTF-8 JSON, with no NUL character in any key or string. "
    "A PATCH replaces the whole object."
)
CHARSET_HELP = (
    "What '#' draws from: `unambiguous` (the default: 23456789ABCDEFGHJKMNPQRSTUVWXYZ), `numeric`, `alphabetic` "
    "(A-Z), `alphanumeric` (0-9 A-Z), or 10 to 64 characters of your own (A-Z a-z 0-9 - _), distinct in any case."
)


def charset_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=CUSTOM_CHARSET_LENGTH[1], required=False, schema_pattern=CHARSET_REGEX, **kwargs)


TTL_HELP = (
    "Seconds after `assigned_at` at which an assigned coupon with no use taken and no live lock returns to the "
    "pool (reads `available`, no longer counts towards `max_codes_per_user`); null (the default) means never."
)


class BookWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH, schema_pattern=NON_BLANK_TEXT_REGEX)
    description = StrictCharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False)
    max_codes_per_user = limit_field(required=False, help_text="Coupons one user may hold; null means unlimited.")
    max_redemptions_per_coupon = limit_field(
        required=False, help_text="1 (the default) for single use; more, or null for unlimited, for gift cards."
    )
    assignment_ttl_seconds = StrictIntegerField(
        min_value=ASSIGNMENT_TTL_SECONDS_MIN,
        max_value=ASSIGNMENT_TTL_SECONDS_MAX,
        allow_null=True,
        required=False,
        help_text=TTL_HELP,
    )
    valid_from = SafeDateTimeField(allow_null=True, required=False)
    valid_until = SafeDateTimeField(allow_null=True, required=False)
    code_pattern = StrictCharField(
        max_length=CODE_MAX_LENGTH,
        required=False,
        schema_pattern=PATTERN_REGEX,
        help_text="Default pattern for generation; '#' is random.",
    )
    charset = charset_field(help_text=CHARSET_HELP)
    is_active = StrictBooleanField(required=False)
    metadata = MetadataField(required=False, help_text=METADATA_HELP)


class BookCountsSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    assigned = serializers.IntegerField()
    locked = serializers.IntegerField()
    redeemed = serializers.IntegerField()
    void = serializers.IntegerField()
    total = serializers.IntegerField()


class StatsQuerySerializer(serializers.Serializer):
    days = WholeNumberQueryField(
        min_value=1, max_value=STATS_DAYS_MAX, default=30, help_text="How many UTC days, today included."
    )


class DaySerializer(serializers.Serializer):
    date = serializers.DateField(source="day")
    assignments = serializers.IntegerField()
    redemptions = serializers.IntegerField(help_text="Rolled back ones left out: their use was given back.")


class BookStatsSerializer(serializers.Serializer):
    book_id = serializers.IntegerField()
    counts = BookCountsSerializer(help_text="Coupons by state as partners see it (an expired lock is assigned).")
    days = DaySerializer(many=True, help_text="Oldest first, every day included.")
    days_left = serializers.FloatField(
        allow_null=True,
        help_text="Days until no coupon is available at the last 7 days' assignment rate; null when nothing "
        "was assigned in them.",
    )


class BookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    max_codes_per_user = serializers.IntegerField(allow_null=True)
    max_redemptions_per_coupon = serializers.IntegerField(allow_null=True)
    assignment_ttl_seconds = serializers.IntegerField(allow_null=True, help_text=TTL_HELP)
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    code_pattern = serializers.CharField()
    charset = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    metadata = serializers.DictField()


class BookDetailSerializer(BookSerializer):
    counts = BookCountsSerializer(help_text="Coupons by state as partners see it (an expired lock is assigned).")


class CodesGenerateSerializer(serializers.Serializer):
    count = StrictIntegerField(min_value=1, max_value=CODES_PER_REQUEST_MAX)
    pattern = StrictCharField(
        max_length=CODE_MAX_LENGTH,
        required=False,
        schema_pattern=PATTERN_REGEX,
        help_text="Defaults to the book's code_pattern.",
    )
    charset = charset_field(help_text=f"Defaults to the book's charset. {CHARSET_HELP}")


class CodeListField(serializers.ListField):
    """A list of codes whose items the import checks (``coupons.csv_input.list_rows``
    and the rejected rows' report), listing at most ``REJECTED_ROWS_LISTED_MAX``
    of them: a field error for each item would answer 100,000 errors (audit L3)."""

    def run_child_validation(self, data: list[object]) -> list[object]:
        return list(data)


@extend_schema_field({"type": "string", "pattern": CODE_REGEX})
class CodeRowField(serializers.CharField):
    """The schema of an upload's row: the rows a ``CodeListField`` takes (the
    import checks them and lists the bad ones, blank ones too)."""


class CodesUploadJSONSerializer(serializers.Serializer):
    codes = CodeListField(
        child=CodeRowField(),
        allow_empty=False,
        min_length=1,
        max_length=CODES_PER_REQUEST_MAX,
        help_text="Item n is row n in the errors.",
    )


class CodesUploadFileSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, one code a row, optional header `code`; at most 100,000 codes.")


class CreatedSerializer(serializers.Serializer):
    created = serializers.IntegerField()


class FlatRequestSerializer(serializers.Serializer):
    """A request body of plain fields, parsed on the hot path by one instance
    per class and process (``validated``), whose fields hold nothing of a
    request: DRF would build and bind every field again for each request."""


class AssignRandomSerializer(FlatRequestSerializer):
    book_id = StrictIntegerField(min_value=1, max_value=ID_MAX)
    user_id = user_id_field()


class UserSerializer(FlatRequestSerializer):
    user_id = user_id_field()


class UnlockSerializer(FlatRequestSerializer):
    user_id = user_id_field()
    lock_id = StrictUUIDField()


class CouponMetadataSerializer(serializers.Serializer):
    """The body of a coupon's PATCH, which replaces the whole object: never
    partial. drf-spectacular sets ``partial`` on every PATCH body, which would
    document ``metadata`` as optional while the view requires it."""

    metadata = MetadataField(help_text=METADATA_HELP)

    @property
    def partial(self) -> bool:
        return False

    @partial.setter
    def partial(self, value: bool) -> None:
        pass


class RedeemSerializer(FlatRequestSerializer):
    user_id = user_id_field()
    lock_id = StrictUUIDField(required=False, allow_null=True, help_text="Required when the coupon is locked.")
    metadata = MetadataField(
        required=False,
        help_text=(
            "Your own JSON object (order id...), at most 4 KB of UTF-8 JSON with no NUL character in any key or "
            "string, stored with the redemption."
        ),
    )


class RollbackSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=REASON_MAX_LENGTH, allow_blank=True, required=False, default="")


class RedemptionDetailSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="coupon.code", read_only=True)
    book_id = serializers.IntegerField(source="coupon.book_id", read_only=True)
    rollback_reason = serializers.SerializerMethodField(help_text="Null until the redemption is rolled back.")

    class Meta:
        model = Redemption
        fields = ["id", "code", "book_id", "user_id", "created_at", "metadata", "rolled_back_at", "rollback_reason"]

    def get_rollback_reason(self, redemption: Redemption) -> str | None:
        return redemption.rollback_reason if redemption.is_rolled_back else None


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


@functools.cache
def _bound(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def validated(serializer_class: type[FlatRequestSerializer], data: Any) -> dict[str, Any]:
    """``serializer_class(data=data)``'s ``validated_data`` once valid, or its
    ``ValidationError`` with the same errors, by the class's one instance
    (``run_validation`` keeps nothing on it: ``is_valid`` is what stores)."""
    if data is None:
        # A JSON null body: ``is_valid`` has its own words for that refusal.
        serializer_class(data=data).is_valid(raise_exception=True)
    return dict(_bound(serializer_class).run_validation(data))


def rendered(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    """``serializer_class(instance).data``, without binding a fresh copy of the
    serializer's fields on every request: one instance per class and process,
    whose ``to_representation`` only reads them (no context, no state)."""
    return _bound(serializer_class).to_representation(instance)
