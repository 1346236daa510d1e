"""One exception handler: domain errors and DRF's own become problem+json.

drf-standardized-errors was considered: its body is ``{"type": "client_error",
"errors": [{"code", "detail", "attr"}]}`` and reaching our contract's shape
(``type``/``title``/``status``/``detail``/``code`` with our stable codes, and
``ServiceError`` mapped) means replacing its formatter and its exception
mapping, which is all it does; this module is that, without the dependency.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from api.problems import PROBLEM_CONTENT_TYPE, problem_body
from couponsite.db import database_unavailable
from couponsite.errors import ErrorCode, ServiceError, ServiceUnavailable, code_for_status

logger = logging.getLogger(__name__)

# A PostgreSQL restart or fail-over takes seconds; a retry sooner mostly finds it still away.
UNAVAILABLE_RETRY_AFTER_SECONDS = 2

# DRF names most of its errors as we do; these three it names otherwise.
DRF_CODE_ALIASES = {
    "invalid": ErrorCode.VALIDATION_ERROR,
    "parse_error": ErrorCode.VALIDATION_ERROR,
    "authentication_failed": ErrorCode.NOT_AUTHENTICATED,
}


def drf_error_code(exc: exceptions.APIException) -> ErrorCode:
    default_code = exc.default_code
    if default_code in DRF_CODE_ALIASES:
        return DRF_CODE_ALIASES[default_code]
    try:
        return ErrorCode(default_code)
    except ValueError:
        return code_for_status(exc.status_code)


def flatten_errors(detail: Any, path: str = "") -> list[dict[str, str]]:
    """DRF's nested error detail as ``[{"field": "codes.3", "detail": ...}]``."""
    if isinstance(detail, dict):
        return [e for key, value in detail.items() for e in flatten_errors(value, f"{path}.{key}" if path else key)]
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [{"field": path or "body", "detail": str(item)} for item in detail]
        return [e for i, item in enumerate(detail) for e in flatten_errors(item, f"{path}.{i}" if path else str(i))]
    return [{"field": path or "body", "detail": str(detail)}]


def problem_for_exception(exc: Exception) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The problem body and extra headers for ``exc``; None for a bug (a 500)."""
    if database_unavailable(exc):
        # Down, restarting, a dropped connection, a statement or lock wait over
        # its time: not a bug, and the same request may succeed in a moment.
        logger.warning("The database did not answer: %s: %s", type(exc).__name__, str(exc).strip()[:300])
        exc = ServiceUnavailable()
    if isinstance(exc, ServiceUnavailable):
        body = problem_body(code=exc.code, detail=exc.detail)
        return body, {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
    if isinstance(exc, ServiceError):
        # problem_body titles the problem type as documented for its code; the
        # service's own words go in the detail.
        return problem_body(code=exc.code, detail=exc.detail, errors=exc.errors), {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    code = drf_error_code(exc)
    headers: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        detail = "; ".join(f"{e['field']}: {e['detail']}" for e in errors[:5])
    elif isinstance(exc, exceptions.ParseError):
        detail = str(exc.detail)
        errors = [{"field": "body", "detail": detail}]
    else:
        detail = str(exc.detail)
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
    return problem_body(code=code, status=exc.status_code, detail=detail, errors=errors), headers


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    problem = problem_for_exception(exc)
    if problem is None:
        return None  # a bug: Django answers 500, which the middleware turns into problem+json
    set_rollback()
    return problem_response(*problem)
