"""Partners' webhook endpoints: create (the secret is returned once, with the
new endpoint), change, delete. Every URL passes ``webhooks.url_policy``."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from books.models import Partner
from books.services import UNCHANGED, Unchanged
from coupons.event_types import FEED_TYPES
from couponsite.bounds import WEBHOOK_DESCRIPTION_MAX_LENGTH, WEBHOOKS_PER_PARTNER_MAX
from couponsite.errors import InvalidInput
from webhooks.models import WebhookEndpoint
from webhooks.signing import secret_new
from webhooks.url_policy import Resolver, system_resolver, webhook_url_problem


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
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.save(update_fields=[*changes, "updated_at"])
    return endpoint


def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()
