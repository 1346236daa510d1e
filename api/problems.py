"""The problem+json (RFC 9457) body of every API error, rendered from the one
error table (``couponsite.errors.ERRORS``)."""

from __future__ import annotations

from typing import Any

from couponsite.errors import ERRORS, ErrorCode

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_type_uri(code: str) -> str:
    return f"/api/problems/{code}"


def problem_body(
    *, code: ErrorCode, status: int | None = None, detail: str | None = None, errors: list | None = None
) -> dict[str, Any]:
    """The body for ``code``; ``status`` only where the HTTP status is one the
    table does not know (a 413 from Django is a ``validation_error``)."""
    error_type = ERRORS[code]
    body: dict[str, Any] = {
        "type": problem_type_uri(code),
        "title": error_type.title,
        "status": status or error_type.status,
        "detail": detail or error_type.title,
        "code": code.value,
    }
    if errors:
        body["errors"] = errors
    return body
