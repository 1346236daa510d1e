"""Partners' webhook endpoints: create (the secret is returned once, with the
new endpoint), change, delete, rotate the secret, send a test event; staff
retry a delivery or switch an endpoint off. Every URL passes
``webhooks.url_policy``; sending is ``webhooks.delivery``'s."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued

from books.models import Partner
from books.services import UNCHANGED, Unchanged
from coupons.event_types import FEED_TYPES
from couponsite.bounds import WEBHOOK_DESCRIPTION_MAX_LENGTH, WEBHOOKS_PER_PARTNER_MAX
from couponsite.errors import InvalidInput
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.outbox import RETRY_WINDOW
from webhooks.signing import secret_new
from webhooks.url_policy import Resolver, system_resolver, webhook_url_problem

logger = logging.getLogger(__name__)
DRAIN_TASK = "webhooks.tasks.drain_webhook_endpoint"


def webhook_drain_soon(*, endpoint_id: object) -> None:
    """Queue a drain of the endpoint once the current transaction commits:
    one job per endpoint at a time (a queued one will send what this adds),
    and one running at a time, so its deliveries go out in order."""

    def defer() -> None:
        try:
            app.configure_task(
                DRAIN_TASK, queueing_lock=f"webhook-drain-{endpoint_id}", lock=f"webhook-endpoint-{endpoint_id}"
            ).defer(endpoint_id=str(endpoint_id))
        except AlreadyEnqueued:
            pass  # the drain waiting in the queue sends this delivery too
        except Exception:
            # What is to send is committed; the periodic drain takes it within a minute.
            logger.warning("The drain of webhook endpoint %s could not be queued now", endpoint_id, exc_info=True)

    transaction.on_commit(defer)


def _checked_url(url: str, *, resolve: Resolver) -> str:
    problem = webhook_url_problem(url, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK, resolve=resolve)
    if problem:
        raise InvalidInput.field("url", problem)
    return url


def _checked_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(FEED_TYPES.values()))
    if unknown:
        raise InvalidInput.field("events", f"Unknown event type {unknown[0]!r}.")
    return sorted(set(event_types))


def _checked_description(description: str) -> str:
    if len(description) > WEBHOOK_DESCRIPTION_MAX_LENGTH:
        raise InvalidInput.field("description", f"At most {WEBHOOK_DESCRIPTION_MAX_LENGTH} characters.")
    return description


def webhook_create(
    *,
    partner: Partner,
    url: str,
    event_types: list[str],
    description: str = "",
    resolve: Resolver = system_resolver,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        partner=partner,
        url=_checked_url(url, resolve=resolve),
        event_types=_checked_types(event_types),
        description=_checked_description(description),
        secret=secret_new(),
    )
    with transaction.atomic():
        # The partner's row serialises its creations, so that the cap holds.
        Partner.objects.select_for_update().filter(pk=partner.pk).first()
        if WebhookEndpoint.objects.filter(partner=partner).count() >= WEBHOOKS_PER_PARTNER_MAX:
            raise InvalidInput.field("url", f"At most {WEBHOOKS_PER_PARTNER_MAX} endpoints; delete one first.")
        endpoint.save()
    return endpoint


def webhook_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | Unchanged = UNCHANGED,
    event_types: list[str] | Unchanged = UNCHANGED,
    description: str | Unchanged = UNCHANGED,
    is_active: bool | Unchanged = UNCHANGED,
    resolve: Resolver = system_resolver,
) -> WebhookEndpoint:
    """Change the fields given (a PATCH); the secret stays."""
    changes: dict[str, object] = {}
    if url is not UNCHANGED:
        changes["url"] = _checked_url(url, resolve=resolve)
    if event_types is not UNCHANGED:
        changes["event_types"] = _checked_types(event_types)
    if description is not UNCHANGED:
        changes["description"] = _checked_description(description)
    if is_active is not UNCHANGED:
        changes["is_active"] = is_active
        if is_active:
            # Switched back on: a fresh start, the reason it was off is past.
            changes |= {"disabled_reason": "", "failing_since": None}
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.save(update_fields=[*changes, "updated_at"])
    return endpoint


def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


ROTATION_OVERLAP = timedelta(hours=24)
TEST_EVENT_TYPE = "webhook.test"


def webhook_rotate_secret(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookEndpoint:
    """A new secret (returned once, on the endpoint); the one it replaces
    still signs for 24 hours, beside it, so the receiver can switch over."""
    now = now or timezone.now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = secret_new()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return endpoint


def webhook_send_test(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookDelivery:
    """Queue a ``webhook.test`` delivery to the endpoint (switched off or not: a
    test says whether it would work). It is not an event: the feed never shows
    it, and a drain queued for it sends it like any other."""
    now = now or timezone.now()
    message_id = f"test_{uuid.uuid4().hex}"
    webhook_drain_soon(endpoint_id=endpoint.pk)
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type=TEST_EVENT_TYPE,
        test_data={"webhook_id": str(endpoint.pk), "message": "A test event: no coupon changed."},
        message_id=message_id,
        next_attempt_at=now,
        created_at=now,
        give_up_at=now + RETRY_WINDOW,
    )


def webhook_delivery_retry(*, delivery: WebhookDelivery, now: datetime | None = None) -> WebhookDelivery:
    """Staff: send a delivery again at the next drain, with 24 hours of retries
    from now (a failed one, or a pending one without waiting for its backoff)."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, finished_at=None, next_attempt_at=now, give_up_at=now + RETRY_WINDOW
    )
    delivery.refresh_from_db()
    webhook_drain_soon(endpoint_id=delivery.endpoint_id)
    return delivery


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> WebhookEndpoint:
    """Switch an endpoint off, saying why (staff see it, the partner can switch
    it back on). Its pending deliveries wait; nothing new is queued meanwhile."""
    endpoint.is_active = False
    endpoint.disabled_reason = reason[:500]
    endpoint.save(update_fields=["is_active", "disabled_reason", "updated_at"])
    return endpoint
