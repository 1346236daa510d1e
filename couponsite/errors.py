"""Domain errors: each carries a stable ``code`` that partners program against.

Services raise these and know nothing of HTTP; the API maps them to
``application/problem+json`` in one handler using ``status`` and ``title``,
the admin turns them into messages and the commands into one line on stderr.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    VALIDATION_ERROR = "validation_error"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BOOK_INACTIVE = "book_inactive"
    BOOK_EXHAUSTED = "book_exhausted"
    ASSIGNMENT_LIMIT_REACHED = "assignment_limit_reached"
    COUPON_UNAVAILABLE = "coupon_unavailable"
    COUPON_NOT_HELD = "coupon_not_held"
    COUPON_LOCKED = "coupon_locked"
    COUPON_NOT_LOCKED = "coupon_not_locked"
    COUPON_REDEEMED = "coupon_redeemed"
    COUPON_VOID = "coupon_void"
    REDEMPTION_ROLLED_BACK = "redemption_rolled_back"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_FLIGHT = "idempotency_key_in_flight"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"


class ServiceError(Exception):
    """Base of every domain error. Subclasses set ``code``, ``status`` and ``title``."""

    code: ErrorCode = ErrorCode.SERVER_ERROR
    status: int = 500
    title: str = "Server error"

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None) -> None:
        self.detail = detail or self.title
        self.errors = errors or []
        super().__init__(self.detail)


class InvalidInput(ServiceError):
    """Malformed or out-of-range input; ``errors`` lists fields or rows."""

    code = ErrorCode.VALIDATION_ERROR
    status = 400
    title = "Invalid input"


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409


class BookInactive(Conflict):
    code = ErrorCode.BOOK_INACTIVE
    title = "The book is inactive or outside its validity window"


class BookExhausted(Conflict):
    code = ErrorCode.BOOK_EXHAUSTED
    title = "The book has no available coupon left"


class AssignmentLimitReached(Conflict):
    code = ErrorCode.ASSIGNMENT_LIMIT_REACHED
    title = "The user already holds as many coupons of this book as allowed"


class CouponUnavailable(Conflict):
    code = ErrorCode.COUPON_UNAVAILABLE
    title = "The coupon is not available"


class CouponNotHeld(Conflict):
    code = ErrorCode.COUPON_NOT_HELD
    title = "The coupon is not assigned to this user"


class CouponLocked(Conflict):
    code = ErrorCode.COUPON_LOCKED
    title = "The coupon is locked under another lock id"


class CouponNotLocked(Conflict):
    code = ErrorCode.COUPON_NOT_LOCKED
    title = "The coupon is not locked"


class CouponRedeemed(Conflict):
    code = ErrorCode.COUPON_REDEEMED
    title = "The coupon has no redemptions left"


class CouponVoid(Conflict):
    code = ErrorCode.COUPON_VOID
    title = "The coupon was voided"


class RedemptionRolledBack(Conflict):
    code = ErrorCode.REDEMPTION_ROLLED_BACK
    title = "The redemption was already rolled back"
