"""A Content-Security-Policy on the pages people open in a browser: the admin
and the API's docs. The API's own answers are JSON, read by programs."""

from __future__ import annotations

from typing import Any

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse

BROWSER_PAGES = ("/admin/", "/api/docs/", "/api/redoc/")


class BrowserPagesCSPMiddleware(CSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> Any:
        if not request.path_info.startswith(BROWSER_PAGES):
            return response
        return super().process_response(request, response)
