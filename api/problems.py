"""The problem+json (RFC 9457) body of every API error and the catalogue of codes.

The catalogue is the one list the exception handler, the OpenAPI schema and the
``/api/problems/{code}`` pages read, so that a code documented is a code served.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from couponsite.errors import ErrorCode

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclasses.dataclass(frozen=True)
class ProblemType:
    code: ErrorCode
    status: int
    title: str
    when: str


C = ErrorCode
CATALOGUE: dict[str, ProblemType] = {
    p.code.value: p
    for p in (
        ProblemType(C.VALIDATION_ERROR, 400, "Invalid input", "Malformed or out-of-range input; see `errors`."),
        ProblemType(C.NOT_AUTHENTICATED, 401, "Not authenticated", "Missing or invalid API key."),
        ProblemType(C.PERMISSION_DENIED, 403, "Permission denied", "Revoked or expired key, or inactive partner."),
        ProblemType(C.NOT_FOUND, 404, "Not found", "Unknown, or not this partner's."),
        ProblemType(C.METHOD_NOT_ALLOWED, 405, "Method not allowed", "The path does not take this HTTP method."),
        ProblemType(C.NOT_ACCEPTABLE, 406, "Not acceptable", "The Accept header excludes JSON."),
        ProblemType(C.BOOK_INACTIVE, 409, "Book inactive", "The book is inactive or outside its validity window."),
        ProblemType(C.BOOK_EXHAUSTED, 409, "Book exhausted", "The book has no available coupon left."),
        ProblemType(
            C.ASSIGNMENT_LIMIT_REACHED,
            409,
            "Assignment limit reached",
            "The user already holds `max_codes_per_user` coupons of the book.",
        ),
        ProblemType(C.COUPON_UNAVAILABLE, 409, "Coupon unavailable", "Assign of a coupon that is not available."),
        ProblemType(
            C.COUPON_NOT_HELD, 409, "Coupon not held", "Lock, unlock or redeem by a user the coupon is not assigned to."
        ),
        ProblemType(C.COUPON_LOCKED, 409, "Coupon locked", "The coupon is locked under another (or no) `lock_id`."),
        ProblemType(C.COUPON_NOT_LOCKED, 409, "Coupon not locked", "Unlock of a coupon that is not locked."),
        ProblemType(C.COUPON_REDEEMED, 409, "Coupon redeemed", "No redemptions remain."),
        ProblemType(C.COUPON_VOID, 409, "Coupon void", "The coupon was voided by staff."),
        ProblemType(C.REDEMPTION_ROLLED_BACK, 409, "Redemption rolled back", "The redemption was rolled back already."),
        ProblemType(
            C.IDEMPOTENCY_KEY_IN_FLIGHT,
            409,
            "Idempotency key in flight",
            "A request with this `Idempotency-Key` is still being processed; retry later.",
        ),
        ProblemType(
            C.UNSUPPORTED_MEDIA_TYPE,
            415,
            "Unsupported media type",
            "The body is neither JSON nor (for uploads) multipart form data.",
        ),
        ProblemType(
            C.IDEMPOTENCY_KEY_REUSED,
            422,
            "Idempotency key reused",
            "This `Idempotency-Key` was used with a different request in the last 24 hours.",
        ),
        ProblemType(C.THROTTLED, 429, "Too many requests", "A rate limit was hit; wait `Retry-After` seconds."),
        ProblemType(C.SERVER_ERROR, 500, "Server error", "Our fault; the request may be retried."),
    )
}


def problem_type_uri(code: str) -> str:
    return f"/api/problems/{code}"


def problem_body(
    *, code: str, status: int, title: str | None = None, detail: str | None = None, errors: list | None = None
) -> dict[str, Any]:
    title = title or (CATALOGUE[code].title if code in CATALOGUE else "Error")
    body: dict[str, Any] = {
        "type": problem_type_uri(code),
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def code_for_status(status: int) -> str:
    """The code of an error that only has an HTTP status (Django's own pages)."""
    by_status = {400: C.VALIDATION_ERROR, 401: C.NOT_AUTHENTICATED, 403: C.PERMISSION_DENIED, 404: C.NOT_FOUND}
    by_status |= {405: C.METHOD_NOT_ALLOWED, 406: C.NOT_ACCEPTABLE, 415: C.UNSUPPORTED_MEDIA_TYPE, 429: C.THROTTLED}
    return by_status.get(status, C.VALIDATION_ERROR if status < 500 else C.SERVER_ERROR)
