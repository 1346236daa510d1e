"""Schemathesis hooks (``SCHEMATHESIS_HOOKS=api.tests.schemathesis_hooks``):
what a client learns from the docs but no JSON Schema can say.

- An ``Idempotency-Key`` names one request. A valid key among valid headers
  is replaced by a fresh one (anything else is sent as drawn): with keys drawn from the
  pattern, two different cases often share one and the second is rightly
  refused with 422 ``idempotency_key_reused`` (documented on every POST, and
  tested in ``test_idempotency.py``) before anything else is checked.
- A few refusals depend on another field, on stored data or on a file's
  content. A schema-valid request refused with 400 naming only such a rule's
  field is the server doing what its docs say, not a schema it breaks; the
  rules are ``RULES_BEYOND_THE_SCHEMA``.
- A positive generation asks for at most ``GENERATED_CODES_MAX`` codes: the
  schema allows 100,000 a request, which take 9 s on this machine, and the
  coverage phase asks for the largest count several times. The largest
  count is refused past the bound in ``test_input_limits.py``; its speed is
  measured in benchmarks/.
- Every other positive case alternately gets the ids of real things (from
  ``SCHEMATHESIS_REAL_IDS``, set by the test), so that it reaches past the 404.

Apart from the key, only positive cases are touched: a negative case is sent
as drawn.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import uuid
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

IDEMPOTENCY_HEADER = "Idempotency-Key"
VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
UPLOAD_ROWS = "upload rows"
GENERATE = "POST /api/v1/books/{book_id}/codes/generate"
GENERATED_CODES_MAX = 500
# Operation -> the fields whose 400 depends on more than the field's JSON value.
RULES_BEYOND_THE_SCHEMA: dict[str, set[str]] = {
    # valid_until later than valid_from (the one sent or the one stored); a
    # charset of characters distinct in any case; metadata of at most 4 KB of
    # JSON with no NUL anywhere inside, keys included (OpenAPI 3.0 can name
    # neither: no propertyNames; the descriptions do).
    "POST /api/v1/books": {"valid_until", "charset", "metadata"},
    "PATCH /api/v1/books/{book_id}": {"valid_until", "charset", "metadata"},
    "PATCH /api/v1/coupons/{code}": {"metadata"},
    "POST /api/v1/coupons/redeem/{code}": {"metadata"},
    # The keyspace rule: the pattern's size against the codes the partner holds.
    GENERATE: {"pattern", "charset"},
    # Rows that duplicate each other (ignoring case) or a stored code; a file
    # that is not a UTF-8 CSV of codes.
    "POST /api/v1/books/{book_id}/codes/upload": {UPLOAD_ROWS, "file"},
    # `after` must name one of the partner's events; a webhook's host must
    # resolve (to public addresses in production).
    "GET /api/v1/events": {"after"},
    "POST /api/v1/webhooks": {"url"},
    "PATCH /api/v1/webhooks/{webhook_id}": {"url"},
}
REAL_IDS: dict[str, dict[str, list[Any]]] = json.loads(os.environ.get("SCHEMATHESIS_REAL_IDS", "{}"))
_turns = itertools.count()


def _is_positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def _headers_are_valid(case: Any) -> bool:
    """A valid key in headers drawn valid: editing headers drawn invalid (a
    missing ``Authorization``) would have schemathesis relabel the case."""
    key = (case.headers or {}).get(IDEMPOTENCY_HEADER)
    if not isinstance(key, str) or not VALID_KEY.fullmatch(key) or case.meta is None:
        return False
    headers = case.meta.components.get(ParameterLocation.HEADER)
    return headers is not None and headers.mode.is_positive


def _real(values: dict[str, Any], kind: str, turn: int) -> None:
    for name, choices in REAL_IDS.get(kind, {}).items():
        if name in values:
            values[name] = choices[turn % len(choices)]


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if _headers_are_valid(case):
        case.headers[IDEMPOTENCY_HEADER] = f"schemathesis-{uuid.uuid4()}"
    if not _is_positive(case):
        return
    if case.operation.label == GENERATE and isinstance(case.body, dict) and isinstance(case.body.get("count"), int):
        case.body["count"] = min(case.body["count"], GENERATED_CODES_MAX)
    turn = next(_turns)
    if turn % 2:
        return
    if case.path_parameters:
        _real(case.path_parameters, "path", turn)
    if isinstance(case.body, dict):
        _real(case.body, "body", turn)


def _refused_fields(response: Any) -> set[str]:
    try:
        problem = response.json()
    except ValueError:
        return set()
    if not isinstance(problem, dict) or problem.get("code") != "validation_error":
        return set()
    return {UPLOAD_ROWS if "line" in error else error.get("field") for error in problem.get("errors", [])}


@schemathesis.hook
def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a 400 of a schema-valid case for a state rule."""
    if failure.code != "ST202" or response.status_code != 400:
        return True
    refused = _refused_fields(response)
    return not refused or not refused <= RULES_BEYOND_THE_SCHEMA.get(case.operation.label, set())
