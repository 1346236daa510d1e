"""Every error code partners program against, in one table, and the domain
exceptions that carry them.

The table holds each code's HTTP status, its title (the problem type's name),
when it happens and the detail given when the raiser says nothing more. The
services raise the exceptions and know nothing of HTTP; the API renders the
table (problem+json, the OpenAPI schema, ``/api/problems/{code}``), the admin
turns an error into a message and a command into one line on stderr.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    VALIDATION_ERROR = "validation_error"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    BOOK_INACTIVE = "book_inactive"
    BOOK_EXHAUSTED = "book_exhausted"
    ASSIGNMENT_LIMIT_REACHED = "assignment_limit_reached"
    COUPON_UNAVAILABLE = "coupon_unavailable"
    COUPON_NOT_HELD = "coupon_not_held"
    COUPON_LOCKED = "coupon_locked"
    COUPON_NOT_LOCKED = "coupon_not_locked"
    COUPON_REDEEMED = "coupon_redeemed"
    COUPON_VOID = "coupon_void"
    COUPON_IN_USE = "coupon_in_use"
    REDEMPTION_ROLLED_BACK = "redemption_rolled_back"
    EXPORT_NOT_READY = "export_not_ready"
    IDEMPOTENCY_KEY_IN_FLIGHT = "idempotency_key_in_flight"
    EVENTS_EXPIRED = "events_expired"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


@dataclasses.dataclass(frozen=True)
class ErrorType:
    status: int
    title: str
    when: str
    default_detail: str = ""

    @property
    def detail(self) -> str:
        return self.default_detail or self.title


# In the order the docs list them. The first code of each status is the one an
# error that only has a status (a page of Django's own) is given.
ERRORS: dict[ErrorCode, ErrorType] = {
    ErrorCode.VALIDATION_ERROR: ErrorType(400, "Invalid input", "Malformed or out-of-range input; see `errors`."),
    ErrorCode.NOT_AUTHENTICATED: ErrorType(401, "Not authenticated", "Missing or invalid API key."),
    ErrorCode.PERMISSION_DENIED: ErrorType(403, "Permission denied", "Revoked or expired key, or inactive partner."),
    ErrorCode.NOT_FOUND: ErrorType(404, "Not found", "Unknown, or not this partner's."),
    ErrorCode.METHOD_NOT_ALLOWED: ErrorType(405, "Method not allowed", "The path does not take this HTTP method."),
    ErrorCode.NOT_ACCEPTABLE: ErrorType(406, "Not acceptable", "The Accept header excludes JSON."),
    ErrorCode.BOOK_INACTIVE: ErrorType(
        409,
        "Book inactive",
        "The book is inactive or outside its validity window.",
        "The book is inactive or outside its validity window",
    ),
    ErrorCode.BOOK_EXHAUSTED: ErrorType(
        409, "Book exhausted", "The book has no available coupon left.", "The book has no available coupon left"
    ),
    ErrorCode.ASSIGNMENT_LIMIT_REACHED: ErrorType(
        409,
        "Assignment limit reached",
        "The user already holds `max_codes_per_user` coupons of the book.",
        "The user already holds as many coupons of this book as allowed",
    ),
    ErrorCode.COUPON_UNAVAILABLE: ErrorType(
        409, "Coupon unavailable", "Assign of a coupon that is not available.", "The coupon is not available"
    ),
    ErrorCode.COUPON_NOT_HELD: ErrorType(
        409,
        "Coupon not held",
        "Lock, unlock or redeem by a user the coupon is not assigned to.",
        "The coupon is not assigned to this user",
    ),
    ErrorCode.COUPON_LOCKED: ErrorType(
        409,
        "Coupon locked",
        "The coupon is locked under another (or no) `lock_id`.",
        "The coupon is locked under another lock id",
    ),
    ErrorCode.COUPON_NOT_LOCKED: ErrorType(
        409, "Coupon not locked", "Unlock of a coupon that is not locked.", "The coupon is not locked"
    ),
    ErrorCode.COUPON_REDEEMED: ErrorType(
        409, "Coupon redeemed", "No redemptions remain.", "The coupon has no redemptions left"
    ),
    ErrorCode.COUPON_VOID: ErrorType(409, "Coupon void", "The coupon was voided by staff.", "The coupon was voided"),
    ErrorCode.COUPON_IN_USE: ErrorType(
        409,
        "Coupon in use",
        "Unassign of a coupon with a use already taken.",
        "A use of the coupon was taken; it can no longer be given back",
    ),
    ErrorCode.REDEMPTION_ROLLED_BACK: ErrorType(
        409,
        "Redemption rolled back",
        "The redemption was rolled back already.",
        "The redemption was rolled back already",
    ),
    ErrorCode.EXPORT_NOT_READY: ErrorType(
        409,
        "Export not ready",
        "Download of an export that is not done (queued, running or failed), or whose file has expired.",
        "The export is not done",
    ),
    ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT: ErrorType(
        409,
        "Idempotency key in flight",
        "A request with this `Idempotency-Key` is still being processed; retry later.",
        "A request with this Idempotency-Key is still being processed",
    ),
    ErrorCode.EVENTS_EXPIRED: ErrorType(
        410,
        "Events expired",
        "`after` names an event the feed no longer keeps, or events after it were deleted unread (older than"
        " the retention): poll without `after` to start again from the oldest event kept, and reconcile.",
        "Events after this one were deleted before you read them (they are kept for a limited time)",
    ),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorType(
        415, "Unsupported media type", "The body is neither JSON nor (for uploads) multipart form data."
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: ErrorType(
        422,
        "Idempotency key reused",
        "This `Idempotency-Key` was used with a different request in the last 24 hours.",
        "This Idempotency-Key was used with a different request",
    ),
    ErrorCode.THROTTLED: ErrorType(429, "Too many requests", "A rate limit was hit; wait `Retry-After` seconds."),
    ErrorCode.SERVER_ERROR: ErrorType(500, "Server error", "Our fault; the request may be retried."),
    ErrorCode.SERVICE_UNAVAILABLE: ErrorType(
        503,
        "Service unavailable",
        "The database did not answer (down, restarting, or a statement or lock wait over its time);"
        " retry after `Retry-After` seconds, with the same `Idempotency-Key`.",
        "The service is briefly unavailable; retry with the same Idempotency-Key",
    ),
}


def code_for_status(status: int) -> ErrorCode:
    """The code of an error that has only an HTTP status."""
    for code, error_type in ERRORS.items():
        if error_type.status == status:
            return code
    return ErrorCode.VALIDATION_ERROR if status < 500 else ErrorCode.SERVER_ERROR


class ServiceError(Exception):
    """Base of every domain error; a subclass names its ``code`` and the table
    gives the rest."""

    code: ErrorCode = ErrorCode.SERVER_ERROR

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None) -> None:
        self.detail = detail or ERRORS[self.code].detail
        self.errors = errors or []
        super().__init__(self.detail)

    @property
    def status(self) -> int:
        return ERRORS[self.code].status

    @property
    def title(self) -> str:
        return ERRORS[self.code].title


class InvalidInput(ServiceError):
    """Malformed or out-of-range input; ``errors`` lists fields or rows."""

    code = ErrorCode.VALIDATION_ERROR

    @classmethod
    def field(cls, field: str, detail: str) -> InvalidInput:
        """The error of one field, its detail said once for the whole and the part."""
        return cls(detail, errors=[{"field": field, "detail": detail}])


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND


class BookInactive(ServiceError):
    code = ErrorCode.BOOK_INACTIVE


class BookExhausted(ServiceError):
    code = ErrorCode.BOOK_EXHAUSTED


class AssignmentLimitReached(ServiceError):
    code = ErrorCode.ASSIGNMENT_LIMIT_REACHED


class CouponUnavailable(ServiceError):
    code = ErrorCode.COUPON_UNAVAILABLE


class CouponNotHeld(ServiceError):
    code = ErrorCode.COUPON_NOT_HELD


class CouponLocked(ServiceError):
    code = ErrorCode.COUPON_LOCKED


class CouponNotLocked(ServiceError):
    code = ErrorCode.COUPON_NOT_LOCKED


class CouponRedeemed(ServiceError):
    code = ErrorCode.COUPON_REDEEMED


class CouponVoid(ServiceError):
    code = ErrorCode.COUPON_VOID


class CouponInUse(ServiceError):
    code = ErrorCode.COUPON_IN_USE


class RedemptionRolledBack(ServiceError):
    code = ErrorCode.REDEMPTION_ROLLED_BACK


class IdempotencyKeyInFlight(ServiceError):
    code = ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT


class IdempotencyKeyReused(ServiceError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class ServiceUnavailable(ServiceError):
    """The database (or another service a request needs) did not answer in time."""

    code = ErrorCode.SERVICE_UNAVAILABLE


class ExportNotReady(ServiceError):
    code = ErrorCode.EXPORT_NOT_READY


class EventsExpired(ServiceError):
    code = ErrorCode.EVENTS_EXPIRED
