"""Body fields that take exactly the JSON type the schema gives them.

DRF converts: ``0`` and ``"yes"`` become booleans, ``"5"`` and ``5.0`` integers,
``5`` a string, an integer a UUID. A client generated from our schema (or
checked against it) must get the 400 the schema promises instead, so each field
here refuses any other JSON type before DRF's own checks run. Strings also
refuse what PostgreSQL cannot store (NUL, lone surrogates), and the schema says
so with a pattern (``api.schema``'s field extensions). The partner's own
values (user ids, metadata) and date-times have their fields here too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from couponsite.bounds import USER_ID_MAX_LENGTH, metadata_problem, text_problem, user_id_problem

# A whole number in a query string, as the schema's integer is written there:
# Python's int() also takes " 5", "+5" and "1_0".
WHOLE_NUMBER = re.compile(r"[0-9]+")
# What ``text_problem`` lets through, as far as a pattern can say it (lone
# surrogates, refused too, are not characters a pattern can name).
TEXT_REGEX = r"^[^\u0000]*$"


def _whitespace_class() -> str:
    """The characters ``str.strip()`` removes, as a regex class body: ``\\s``
    differs between regex dialects, this list does not."""
    spaces = [code for code in range(0x10000) if chr(code).isspace()]
    ranges: list[list[int]] = []
    for code in spaces:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(rf"\u{low:04x}" + (rf"-\u{high:04x}" if high > low else "") for low, high in ranges)


# Text with something other than white space in it (a book's name).
NON_BLANK_TEXT_REGEX = rf"^[^\u0000]*[^\u0000{_whitespace_class()}][^\u0000]*$"


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a JSON integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class WholeNumberQueryField(serializers.IntegerField):
    """An integer query parameter: digits only (DRF's field takes ``1.0``)."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not WHOLE_NUMBER.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string kept as sent: not trimmed (the schema cannot say "trimmed", and
    a length or blank check after trimming would refuse what it allows)."""

    default_error_messages = {"invalid": "Must be a JSON string."}

    def __init__(self, *, schema_pattern: str = TEXT_REGEX, **kwargs: Any) -> None:
        self.schema_pattern = schema_pattern
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        problem = text_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID as a JSON string only (DRF also takes an integer)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class SafeDateTimeField(serializers.DateTimeField):
    """A date-time whose conversion to UTC may leave the calendar (year 1 at
    +14:00) is invalid input, not a server error."""

    def to_internal_value(self, value: Any) -> datetime:
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("invalid", format="ISO 8601")


USER_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": USER_ID_MAX_LENGTH, "pattern": TEXT_REGEX}


@extend_schema_field(USER_ID_SCHEMA)
class UserIdField(serializers.Field):
    """The partner's own id of its end user: a JSON string of 1 to 128
    characters, opaque to us. Anything else (a number, a boolean, an object)
    is refused, never converted: the rule is ``couponsite.bounds``'s."""

    def to_internal_value(self, data: Any) -> str:
        problem = user_id_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return data

    def to_representation(self, value: str) -> str:
        return value


def user_id_field(**kwargs: Any) -> UserIdField:
    return UserIdField(help_text="Your own id of the end user: 1 to 128 characters, opaque to us.", **kwargs)


def path_user_id(value: str) -> str:
    """A user id from the path, checked as one in a body: a 400 naming ``user_id``."""
    try:
        return user_id_field().run_validation(value)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({"user_id": error.detail}) from error


class MetadataField(serializers.DictField):
    def to_internal_value(self, data: Any) -> dict:
        problem = metadata_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return data
