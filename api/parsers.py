"""Body parsing with our limits: a bounded read, and deep nesting refused."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.utils import json as drf_json


class JSONParser(parsers.JSONParser):
    """DRF's parser reads the whole stream, whatever its size, and lets a
    ``RecursionError`` from ``[[[[...`` escape as a server error."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise exceptions.ValidationError({"body": [f"The body must be at most {limit} bytes."]})
        try:
            return json.loads(raw, parse_constant=drf_json.strict_constant)
        except (ValueError, RecursionError) as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from error
