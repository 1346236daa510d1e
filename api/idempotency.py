"""``Idempotency-Key`` on POST and PATCH: a retry gets the first answer and changes nothing.

How it holds under concurrency: the whole request (look-up of the key, the
view's effect and the stored answer) is one transaction, which first takes a
non-waiting advisory lock on (partner, key). A second request with the key
while the first runs cannot get that lock and is told
``idempotency_key_in_flight``; once the first commits, the stored answer is
visible and replayed. If the effect rolls back, so does the stored answer:
there is never an answer without its effect, nor the reverse. A view's writes
are its service's, atomic itself (a savepoint in this transaction): a refused
request leaves nothing but its stored answer.

The lock and the look-up are one call, the answer is stored with one upsert,
and the body is rendered once, for the partner and the store alike.

What is stored: every answer the view gives below 500, 4xx domain errors
included, so that a retry of a refused request is refused the same way. A 5xx
is never stored (its transaction rolled back): retrying it runs it again.
Errors raised before the view runs (authentication, throttling, an invalid key,
the two idempotency errors) are not stored either.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.http import Http404, HttpResponse, QueryDict
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.authentication import principal
from api.exceptions import problem_for_exception, problem_response
from api.models import IdempotencyKey
from coupons.erasure import erased_value
from couponsite.bounds import IDEMPOTENCY_KEY_MAX_LENGTH
from couponsite.db import prepare_once, send_with_next
from couponsite.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, ServiceError
from couponsite.locks import LockKind, ensure_in_transaction, stable_key

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
TABLE = IdempotencyKey._meta.db_table

LOCK_AND_LOOK_UP_SQL = prepare_once(f"""
SELECT pg_try_advisory_xact_lock(%(lock_key)s);
SELECT fingerprint, response_status, response_body, response_content_type FROM {TABLE}
WHERE partner_id = %(partner_id)s AND key = %(key)s AND created_at > %(since)s
""")  # noqa: S608 - the table name is ours, the values are parameters

# An expired answer under the same key is replaced.
STORE_SQL = prepare_once(f"""
INSERT INTO {TABLE}
    (partner_id, key, fingerprint, method, path, response_status, response_body, response_content_type, created_at)
VALUES (%(partner_id)s, %(key)s, %(fingerprint)s, %(method)s, %(path)s, %(status)s, %(body)s, %(content_type)s, %(now)s)
ON CONFLICT (partner_id, key) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, method = EXCLUDED.method, path = EXCLUDED.path,
    response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body,
    response_content_type = EXCLUDED.response_content_type, created_at = EXCLUDED.created_at
""")  # noqa: S608 - the table name is ours, the values are parameters


def key_ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def _canonical(value: Any) -> Any:
    """The parsed body in a form that does not depend on key order, JSON
    whitespace or multipart boundaries; files by their content's hash."""
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file_sha256": digest.hexdigest()}
    if isinstance(value, QueryDict):
        return {key: [_canonical(v) for v in value.getlist(key)] for key in value}
    if isinstance(value, dict):
        return {str(key): _canonical(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def request_fingerprint(request: Request) -> str:
    body = json.dumps(_canonical(request.data), sort_keys=True, separators=(",", ":"), default=str)
    text = "\n".join((request.method, request.get_full_path(), body))
    return hashlib.sha256(text.encode()).hexdigest()


def _key_from(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH or not all(" " <= char <= "~" for char in key):
        raise exceptions.ValidationError(
            {HEADER: [f"Must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII characters."]}
        )
    return key


def _answer(body: bytes | str, *, status: int, content_type: str) -> HttpResponse:
    response = HttpResponse(body, status=status)
    response["Content-Type"] = content_type
    return response


def _run_view(handler: Callable[..., Response], view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
    """The view's answer, its 4xx errors turned into responses that can be stored."""
    try:
        return handler(view, request, *args, **kwargs)
    except (ServiceError, exceptions.APIException, Http404) as error:
        problem = problem_for_exception(error)
        if problem is None or problem[0]["status"] >= 500:
            raise
        return problem_response(*problem)


def _lock_and_look_up(*, partner_id: int, key: str) -> tuple[bool, tuple | None]:
    ensure_in_transaction()
    parameters = {
        "lock_key": stable_key(LockKind.IDEMPOTENCY_KEY, partner_id, key),
        "partner_id": partner_id,
        "key": key,
        "since": timezone.now() - key_ttl(),
    }
    with connection.cursor() as cursor:
        cursor.execute(LOCK_AND_LOOK_UP_SQL, parameters)
        locked = cursor.fetchone()[0]
        cursor.nextset()
        return locked, cursor.fetchone()


def _store(*, partner_id: int, key: str, fingerprint: str, path: str, request: Request, answer: HttpResponse) -> None:
    parameters = {
        "partner_id": partner_id,
        "key": key,
        "fingerprint": fingerprint,
        "method": request.method,
        "path": path[:2048],
        "status": answer.status_code,
        "body": answer.content.decode(),
        "content_type": answer["Content-Type"],
        "now": timezone.now(),
    }
    send_with_next(STORE_SQL, parameters)  # with the COMMIT


def _rendered(response: Response) -> HttpResponse:
    """The view's answer as the bytes the partner gets (and a retry replays)."""
    content_type = response.content_type or "application/json"
    body = JSONRenderer().render(response.data) if response.data is not None else b""
    answer = _answer(body, status=response.status_code, content_type=content_type)
    for header, value in response.items():
        if header != "Content-Type":
            answer[header] = value
    return answer


def idempotent(handler: Callable[..., Response] | None = None, *, stored_path: str | None = None) -> Any:
    """Decorate a POST or PATCH handler of a partner view to honour ``Idempotency-Key``.

    ``stored_path``: what the stored answer records as its path instead of
    the request's, for a path that names what must not be kept (an erased
    user's id); the fingerprint still tells a retry from another request."""
    if handler is None:
        return functools.partial(idempotent, stored_path=stored_path)

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        key = _key_from(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        partner_id = principal(request).partner.pk
        fingerprint = request_fingerprint(request)
        with transaction.atomic():
            locked, stored = _lock_and_look_up(partner_id=partner_id, key=key)
            if not locked:
                raise IdempotencyKeyInFlight()
            if stored is not None:
                stored_fingerprint, status, body, content_type = stored
                if stored_fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                replay = _answer(body, status=status, content_type=content_type)
                replay[REPLAYED_HEADER] = "true"
                return replay
            answer = _rendered(_run_view(handler, view, request, *args, **kwargs))
            path = stored_path or request.get_full_path()
            _store(partner_id=partner_id, key=key, fingerprint=fingerprint, path=path, request=request, answer=answer)
            return answer

    wrapper.idempotent = True
    return wrapper


def idempotency_keys_purge(*, older_than: timedelta | None = None) -> int:
    """Delete stored keys past their time; how many went."""
    cutoff = timezone.now() - (older_than if older_than is not None else key_ttl())
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


ERASURE_CANDIDATES_SQL = f"""
SELECT id, response_body FROM {TABLE} WHERE partner_id = %(partner_id)s AND strpos(response_body, %(needle)s) > 0
FOR UPDATE
"""  # noqa: S608 - the table name is ours, the values are parameters
ERASE_SQL = f"UPDATE {TABLE} SET response_body = %(body)s, fingerprint = %(fingerprint)s WHERE id = %(id)s"  # noqa: S608


def idempotency_answers_erase(*, partner_id: int, user_id: str, pseudonym: str) -> int:
    """The partner's stored answers that name ``user_id`` (as a JSON string
    or key) name ``pseudonym`` instead; how many. Their fingerprints are
    replaced by random ones: a hash of a request that named the user would
    let a guess link it to the pseudonym. A retry of such a request is
    therefore refused (``idempotency_key_reused``): neither run again nor
    replayed."""
    needle = JSONRenderer().render(user_id).decode()
    with connection.cursor() as cursor:
        cursor.execute(ERASURE_CANDIDATES_SQL, {"partner_id": partner_id, "needle": needle})
        erased = []
        for record_id, body in cursor.fetchall():
            try:
                answer = json.loads(body)
            except ValueError:
                continue
            rewritten = erased_value(answer, erased=user_id, pseudonym=pseudonym)
            if rewritten != answer:
                rendered = JSONRenderer().render(rewritten).decode()
                erased.append({"id": record_id, "body": rendered, "fingerprint": secrets.token_hex(32)})
        cursor.executemany(ERASE_SQL, erased)
    return len(erased)
