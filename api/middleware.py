"""Two rules for every answer under /api/, and one for the way there.

Never stored by a cache on the way (``Cache-Control: no-store``): the answers
carry partners' codes and their users' coupons.

Never an HTML page: Django's own error pages become problem+json.

DRF's handler covers what happens inside a view; this covers the rest: an
unknown path (404), an unhandled exception (500, with DEBUG on or off), a
refused host or a too-large form (400). It rewrites rather than replaces
``handler404``/``handler500`` so that it also catches the debug pages.

Never an unbounded wait on the database: a partner request's statements run
under ``API_STATEMENT_TIMEOUT_SECONDS`` and ``API_LOCK_TIMEOUT_SECONDS``, and one
cut short answers 503 ``service_unavailable`` (``api.exceptions``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from api.problems import PROBLEM_CONTENT_TYPE, problem_body
from couponsite.db import database_timeouts
from couponsite.errors import code_for_status

API_PREFIX = "/api/"
JSON_TYPES = ("application/json", PROBLEM_CONTENT_TYPE)


class ApiResponseRules:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX):
            return response
        if response.status_code >= 400:
            response = self.as_problem(response)
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def as_problem(response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").split(";")[0].strip() in JSON_TYPES:
            return response
        status = response.status_code
        body = problem_body(code=code_for_status(status), status=status)
        problem = HttpResponse(
            json.dumps(body, separators=(",", ":")), status=status, content_type=PROBLEM_CONTENT_TYPE
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate", "X-Request-ID"):
            if header in response:
                problem[header] = response[header]
        return problem


class ApiDatabaseTimeouts:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        with database_timeouts(
            statement_seconds=settings.API_STATEMENT_TIMEOUT_SECONDS, lock_seconds=settings.API_LOCK_TIMEOUT_SECONDS
        ):
            return self.get_response(request)
