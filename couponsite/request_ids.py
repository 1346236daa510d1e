"""Every request gets an id of the server's own: returned as ``X-Request-ID``,
written on each log line and on the audit events it causes.

A client's own ``X-Request-ID`` is never taken as ours (two requests could
send the same one, and events would then name the wrong request): it is kept
apart, on the log lines only, as ``client_request_id``.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
CLIENT_ID_MAX_LENGTH = 64

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_client_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("client_request_id", default="")


def current_request_id() -> str:
    """The id of the request being served, or "" outside one (a command, a job)."""
    return _request_id.get()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        client_id = request.headers.get(HEADER, "")[:CLIENT_ID_MAX_LENGTH]
        tokens = _request_id.set(request_id), _client_request_id.set((client_id.isprintable() and client_id) or "")
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(tokens[0])
            _client_request_id.reset(tokens[1])
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` and ``client_request_id`` on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        record.client_request_id = _client_request_id.get()
        return True
