import uuid

from django.db import models

from books.models import Partner
from couponsite.bounds import WEBHOOK_DESCRIPTION_MAX_LENGTH, WEBHOOK_URL_MAX_LENGTH


class WebhookEndpoint(models.Model):
    """Where a partner wants its events sent (DESIGN.md, "Events feed and
    webhooks"). The secret signs deliveries, so it is kept as given out
    (``whsec_`` + base64): an HMAC key cannot be stored as a hash."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField(max_length=WEBHOOK_URL_MAX_LENGTH)
    # The feed's types to send; empty: all of them.
    event_types = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=WEBHOOK_DESCRIPTION_MAX_LENGTH, blank=True, default="")
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url
