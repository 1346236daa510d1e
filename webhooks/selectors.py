from __future__ import annotations

import uuid

from django.db.models import QuerySet

from books.models import Partner
from couponsite.errors import NotFound
from webhooks.models import WebhookAttempt, WebhookEndpoint


def webhook_list(*, partner: Partner) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(partner=partner).order_by("created_at", "id")


def webhook_get(*, partner: Partner, webhook_id: uuid.UUID) -> WebhookEndpoint:
    """The partner's endpoint; another partner's is not found, like a missing one."""
    endpoint = WebhookEndpoint.objects.filter(partner=partner, pk=webhook_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint")
    return endpoint


def webhook_attempts(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookAttempt]:
    """The endpoint's delivery attempts, newest first."""
    return WebhookAttempt.objects.filter(endpoint=endpoint).select_related("delivery").order_by("-id")
