"""``Idempotency-Key`` on POST: a retry gets the first answer and changes nothing.

How it holds under concurrency: the whole request (look-up of the key, the
view's effect and the stored answer) is one transaction, which first takes a
non-waiting advisory lock on (partner, key). A second request with the key
while the first runs cannot get that lock and is told
``idempotency_key_in_flight``; once the first commits, the stored answer is
visible and replayed. If the effect rolls back, so does the stored answer:
there is never an answer without its effect, nor the reverse.

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
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import Http404, HttpResponse, QueryDict
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.authentication import principal
from api.exceptions import problem_for_exception, problem_response
from api.models import IdempotencyKey
from couponsite.bounds import IDEMPOTENCY_KEY_MAX_LENGTH
from couponsite.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, ServiceError
from couponsite.locks import LockKind, try_advisory_xact_lock

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


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


def _replay(stored: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(stored.response_body, status=stored.response_status)
    response["Content-Type"] = stored.response_content_type
    response[REPLAYED_HEADER] = "true"
    return response


def _run_view(handler: Callable[..., Response], view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
    """The view's answer, its 4xx errors turned into responses that can be
    stored; a failed view's writes are rolled back to its savepoint."""
    try:
        with transaction.atomic():
            return handler(view, request, *args, **kwargs)
    except (ServiceError, exceptions.APIException, Http404) as error:
        problem = problem_for_exception(error)
        if problem is None or problem[0]["status"] >= 500:
            raise
        return problem_response(*problem)


def _store(*, partner_id: int, key: str, fingerprint: str, request: Request, response: Response) -> None:
    body = JSONRenderer().render(response.data).decode() if response.data is not None else ""
    IdempotencyKey.objects.update_or_create(
        partner_id=partner_id,
        key=key,
        defaults={
            "fingerprint": fingerprint,
            "method": request.method,
            "path": request.get_full_path()[:2048],
            "response_status": response.status_code,
            "response_body": body,
            "response_content_type": response.content_type or "application/json",
            "created_at": timezone.now(),
        },
    )


def idempotent(handler: Callable[..., Response]) -> Callable[..., HttpResponse]:
    """Decorate a POST handler of a partner view to honour ``Idempotency-Key``."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        key = _key_from(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        partner_id = principal(request).partner.pk
        fingerprint = request_fingerprint(request)
        with transaction.atomic():
            if not try_advisory_xact_lock(LockKind.IDEMPOTENCY_KEY, partner_id, key):
                raise IdempotencyKeyInFlight()
            stored = IdempotencyKey.objects.filter(
                partner_id=partner_id, key=key, created_at__gt=timezone.now() - key_ttl()
            ).first()
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                return _replay(stored)
            response = _run_view(handler, view, request, *args, **kwargs)
            _store(partner_id=partner_id, key=key, fingerprint=fingerprint, request=request, response=response)
            return response

    wrapper.idempotent = True
    return wrapper


def idempotency_keys_purge(*, older_than: timedelta | None = None) -> int:
    """Delete stored keys past their time; how many went."""
    cutoff = timezone.now() - (older_than if older_than is not None else key_ttl())
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
