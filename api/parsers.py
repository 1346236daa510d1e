"""Body parsing with our limits: a bounded read, and deep nesting refused."""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.utils import json as drf_json

# Far beyond any real request; keeps every recursive walk of the data (the
# fingerprint, serializers, json.dumps in the services) well inside Python's
# recursion limit.
MAX_DEPTH = 64


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _finite_float(text: str) -> float:
    """A JSON number as a float; one too large for a float (1e400) is an error,
    not an infinity that PostgreSQL would refuse later."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text[:40]}")
    return number


class JSONParser(parsers.JSONParser):
    """DRF's parser reads the whole stream, whatever its size, and lets a
    ``RecursionError`` from ``[[[[...`` escape as a server error."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise exceptions.ValidationError({"body": [f"The body must be at most {limit} bytes."]})
        try:
            data = json.loads(raw, parse_constant=drf_json.strict_constant, parse_float=_finite_float)
        except (ValueError, RecursionError) as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from error
        if _deeper_than(data, MAX_DEPTH):
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels")
        return data
