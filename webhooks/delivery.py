"""Sending an endpoint's deliveries: the drain a background job runs per
endpoint, each attempt recorded, retries with exponential backoff and jitter
for 24 hours, an endpoint failing for 5 days switched off.

At least once: a drain takes a delivery by pushing its ``next_attempt_at``
a lease ahead in a short transaction of its own, sends it with no
transaction open, then records the answer. A worker killed between the two
leaves the delivery pending, due again when the lease runs out, and the
partner gets it again with the same ``webhook-id``. Every function takes the
clock as a parameter, so that tests drive time instead of sleeping."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from coupons.events import snapshot_time
from coupons.models import CouponEvent
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.outbox import outbox_fan_out
from webhooks.signing import event_body, signed_headers
from webhooks.transport import Answer, DeliveryError, post_pinned
from webhooks.url_policy import RefusedURL, Resolver, system_resolver, webhook_url_target

Clock = Callable[[], datetime]

DELIVERY_TIMEOUT_SECONDS = 10.0
# Longer than a send can take, so that a live drain's delivery is not sent twice.
LEASE = timedelta(seconds=60)
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=2)
DISABLE_AFTER = timedelta(days=5)
DRAIN_DELIVERIES_MAX = 500


@dataclasses.dataclass(frozen=True)
class DrainResult:
    queued: int = 0
    succeeded: int = 0
    failed_attempts: int = 0


def backoff(*, attempts: int, rng: random.Random) -> timedelta:
    """The wait after the ``attempts``-th failure: doubling from 30 s up to 2 h,
    each drawn between half and all of it so that a receiver coming back up is
    not hit by every endpoint's retries at once."""
    ceiling = min(BACKOFF_FIRST * 2 ** (attempts - 1), BACKOFF_MAX)
    return ceiling * rng.uniform(0.5, 1.0)


def webhook_endpoint_drain(
    *,
    endpoint_id: Any,
    clock: Clock = timezone.now,
    resolve: Resolver = system_resolver,
    rng: random.Random | None = None,
    timeout: float = DELIVERY_TIMEOUT_SECONDS,
    max_deliveries: int = DRAIN_DELIVERIES_MAX,
) -> DrainResult:
    """Queue the endpoint's new events, then send its due deliveries oldest
    first until none is due, one fails (the receiver is in trouble: the rest
    waits for the next drain) or ``max_deliveries`` were sent. Safe to run
    again at any time, also two at once."""
    rng = rng or random.Random()
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return DrainResult()
    queued = outbox_fan_out(endpoint=endpoint, now=clock())
    succeeded = failed = 0
    while succeeded + failed < max_deliveries:
        delivery = _claim_due(endpoint_id=endpoint.pk, now=clock())
        if delivery is None:
            break
        if _attempt(delivery, clock=clock, resolve=resolve, rng=rng, timeout=timeout):
            succeeded += 1
        else:
            failed += 1
            break
    return DrainResult(queued=queued, succeeded=succeeded, failed_attempts=failed)


def _claim_due(*, endpoint_id: Any, now: datetime) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(endpoint_id=endpoint_id, endpoint__is_active=True, status=DeliveryStatus.PENDING)
            .filter(next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .first()
        )
        if delivery is None:
            return None
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + LEASE)
    return delivery


def _body(delivery: WebhookDelivery) -> bytes:
    if delivery.event_id is None:
        return event_body(
            event_id=delivery.message_id,
            event_type=delivery.event_type,
            created_at=snapshot_time(delivery.created_at),
            data=delivery.test_data or {},
        )
    event = CouponEvent.objects.only("id", "created_at", "data").get(pk=delivery.event_id)
    return event_body(
        event_id=event.pk, event_type=delivery.event_type, created_at=snapshot_time(event.created_at), data=event.data
    )


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The current secret, and the one before a rotation while it still signs."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


def _attempt(delivery: WebhookDelivery, *, clock: Clock, resolve: Resolver, rng: random.Random, timeout: float) -> bool:
    endpoint = delivery.endpoint
    started_at = clock()
    started = time.monotonic()
    answer: Answer | None = None
    error = ""
    try:
        # Again now: the name may point somewhere else than when it was saved.
        target = webhook_url_target(endpoint.url, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK, resolve=resolve)
        body = _body(delivery)
        headers = signed_headers(
            secrets_=signing_secrets(endpoint, now=started_at),
            message_id=delivery.message_id,
            # The receiver's replay check compares it with its own clock: the
            # real time of sending, not the scheduling clock.
            timestamp=int(time.time()),
            body=body,
        )
        answer = post_pinned(target=target, body=body, headers=headers, timeout=timeout)
    except RefusedURL as refused:
        error = f"Refused: {refused}"
    except DeliveryError as no_answer:
        error = str(no_answer)
    duration_ms = round((time.monotonic() - started) * 1000)
    return _record(
        delivery,
        status_code=answer.status if answer else None,
        error=error,
        attempted_at=started_at,
        duration_ms=duration_ms,
        now=clock(),
        rng=rng,
    )


def _record(
    delivery: WebhookDelivery,
    *,
    status_code: int | None,
    error: str,
    attempted_at: datetime,
    duration_ms: int,
    now: datetime,
    rng: random.Random,
) -> bool:
    succeeded = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not succeeded and not error:
        error = f"HTTP {status_code}" + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
    with transaction.atomic():
        # Locked, so that the endpoint (and with it the delivery) cannot be
        # deleted before the attempt is written; gone already: nothing to record.
        if not WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).exists():
            return succeeded
        WebhookAttempt.objects.create(
            delivery=delivery,
            endpoint_id=delivery.endpoint_id,
            attempted_at=attempted_at,
            status_code=status_code,
            error=error[:500],
            duration_ms=duration_ms,
        )
        attempts = delivery.attempt_count + 1
        changes: dict[str, Any] = {
            "attempt_count": attempts,
            "last_status_code": status_code,
            "last_error": error[:500],
        }
        if succeeded:
            changes |= {"status": DeliveryStatus.SUCCEEDED, "finished_at": now}
        elif now >= delivery.give_up_at:
            changes |= {"status": DeliveryStatus.FAILED, "finished_at": now}
        else:
            changes["next_attempt_at"] = min(now + backoff(attempts=attempts, rng=rng), delivery.give_up_at)
        # Only while still pending: a staff action meanwhile wins.
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(**changes)
        _endpoint_health(delivery.endpoint_id, succeeded=succeeded, now=now)
    return succeeded


def _endpoint_health(endpoint_id: Any, *, succeeded: bool, now: datetime) -> None:
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if succeeded:
        endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        return
    endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    endpoints.filter(is_active=True, failing_since__lte=now - DISABLE_AFTER).update(
        is_active=False,
        disabled_reason=f"Disabled at {snapshot_time(now)}: every delivery failed for {DISABLE_AFTER.days} days.",
        updated_at=now,
    )


def webhook_endpoints_to_drain() -> list[Any]:
    """The ids of the endpoints a periodic job should drain: every active one
    (its fan-out finds new events; an idle drain costs two short queries)."""
    return list(WebhookEndpoint.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))


DELIVERY_PURGE_BATCH = 5_000

# A batch of ended deliveries, deleted with their attempts; the status and the
# end are checked again on the row itself, so that a delivery a staff retry
# made pending meanwhile stays. Returns the batch's last id and how many went.
DELIVERY_PURGE_BATCH_SQL = """
WITH batch AS (
    SELECT id FROM webhooks_webhookdelivery
    WHERE id > %(after_id)s AND status <> 'pending' AND finished_at < %(before)s
    ORDER BY id LIMIT %(batch)s
), gone AS (
    DELETE FROM webhooks_webhookdelivery delivery USING batch
    WHERE delivery.id = batch.id AND delivery.status <> 'pending' AND delivery.finished_at < %(before)s
    RETURNING delivery.id
), attempts AS (
    DELETE FROM webhooks_webhookattempt attempt USING gone WHERE attempt.delivery_id = gone.id
)
SELECT (SELECT max(id) FROM batch), (SELECT count(*) FROM gone)
"""


def webhook_deliveries_purge(*, now: datetime, batch: int = DELIVERY_PURGE_BATCH) -> int:
    """Delete the deliveries (and their attempts) that ended more than
    ``WEBHOOK_DELIVERY_RETENTION_DAYS`` ago, a batch of ids a transaction;
    pending ones stay whatever their age. How many were deleted."""
    days = settings.WEBHOOK_DELIVERY_RETENTION_DAYS
    if days is None:
        return 0
    parameters = {"after_id": 0, "before": now - timedelta(days=days), "batch": batch}
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(DELIVERY_PURGE_BATCH_SQL, parameters)
            last_id, gone = cursor.fetchone()
        deleted += gone
        if last_id is None:
            return deleted
        parameters["after_id"] = last_id
