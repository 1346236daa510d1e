"""The bounds of every input, in one place: models, serializers, forms,
services and commands read them here, and the checks below are the only
definition of what a valid user id or metadata object is."""

from __future__ import annotations

import json

from couponsite.errors import InvalidInput

NAME_MAX_LENGTH = 200  # partners and books
DESCRIPTION_MAX_LENGTH = 5_000
USER_ID_MAX_LENGTH = 128
CODE_MAX_LENGTH = 64
REASON_MAX_LENGTH = 500  # a redemption's rollback reason
# max_codes_per_user and max_redemptions_per_coupon: PostgreSQL's integer, with room.
LIMIT_MAX = 1_000_000_000
# A book's assignment_ttl_seconds: a second to ten years.
ASSIGNMENT_TTL_SECONDS_MIN = 1
ASSIGNMENT_TTL_SECONDS_MAX = 10 * 365 * 24 * 3600
# A batch assignment's users, at most.
BATCH_USERS_MAX = 1_000
# PostgreSQL's bigint: a larger id cannot exist and must not reach the database.
ID_MAX = 2**63 - 1
# The most codes one API request or admin form may add; operator commands take any number.
CODES_PER_REQUEST_MAX = 100_000
# A file of codes, uploaded in the admin or through the API: 100,000 codes of
# 64 characters and a few more columns fit.
UPLOAD_MAX_BYTES = 10 * 1024 * 1024
# An upload's rejected rows listed, at most (the count of all is given too).
REJECTED_ROWS_LISTED_MAX = 100
METADATA_MAX_BYTES = 4_096
# A book's statistics cover at most this many days.
STATS_DAYS_MAX = 366
# Events are kept at least so long: the statistics count assignments in them.
EVENT_RETENTION_DAYS_MIN = STATS_DAYS_MAX + 1
IDEMPOTENCY_KEY_MAX_LENGTH = 255
WEBHOOK_URL_MAX_LENGTH = 2_000
WEBHOOK_DESCRIPTION_MAX_LENGTH = 500
WEBHOOKS_PER_PARTNER_MAX = 20


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store ``value`` as text, or None."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text."
    return None


def user_id_problem(user_id: object) -> str | None:
    """Why ``user_id`` is not a partner's end-user id, or None."""
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= USER_ID_MAX_LENGTH:
        return f"Must be a string of 1 to {USER_ID_MAX_LENGTH} characters."
    return text_problem(user_id)


def checked_user_id(user_id: object) -> str:
    problem = user_id_problem(user_id)
    if problem:
        raise InvalidInput.field("user_id", f"user_id: {problem}")
    return user_id


def metadata_problem(metadata: object) -> str | None:
    """Why ``metadata`` cannot be stored, or None: a JSON object of at most
    ``METADATA_MAX_BYTES`` in UTF-8, which PostgreSQL's jsonb can hold."""
    if not isinstance(metadata, dict):
        return "Must be a JSON object."
    try:
        encoded = json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return "Must be valid Unicode text."
    except (TypeError, ValueError):
        return "Must hold only JSON values."
    if len(encoded) > METADATA_MAX_BYTES:
        return f"Must be at most {METADATA_MAX_BYTES} bytes of JSON."
    if _holds_nul(metadata):
        return "Must not contain NUL characters."
    return None


def checked_metadata(metadata: object) -> dict:
    if metadata is None:
        return {}
    problem = metadata_problem(metadata)
    if problem:
        raise InvalidInput.field("metadata", f"metadata: {problem}")
    return metadata


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False
