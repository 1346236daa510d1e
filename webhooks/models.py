import uuid
from typing import Any

from django.db import models
from django.db.models import Q

from books.models import Partner
from coupons.models import CouponEvent, TransactionIdField
from couponsite.bounds import WEBHOOK_DESCRIPTION_MAX_LENGTH, WEBHOOK_URL_MAX_LENGTH


class SnapshotField(models.Field):
    """A PostgreSQL ``pg_snapshot``: which transactions had committed at one
    moment (its text form, ``xmin:xmax:xip,...``)."""

    def db_type(self, connection: Any) -> str:
        return "pg_snapshot"


class WebhookEndpoint(models.Model):
    """Where a partner wants its events sent (DESIGN.md, "Events feed and
    webhooks"). The secret signs deliveries, so it is kept as given out
    (``whsec_`` + base64): an HMAC key cannot be stored as a hash.

    The endpoint's outbox is the events table itself, read like the feed:
    ``cursor_transaction_id`` and ``cursor_event_id`` are the feed position of
    the last event turned into a delivery (``webhooks.outbox``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField(max_length=WEBHOOK_URL_MAX_LENGTH)
    # The feed's types to send; empty: all of them.
    event_types = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=WEBHOOK_DESCRIPTION_MAX_LENGTH, blank=True, default="")
    secret = models.CharField(max_length=100)
    # The secret before the last rotation, which still signs until it expires.
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Why the service switched it off (failing for days), for staff and partner.
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    # The first failure since the last success; null while it answers.
    failing_since = models.DateTimeField(null=True, blank=True)
    # Where its outbox stands in the feed's order. At creation: the oldest
    # transaction still running, so that every event committed afterwards is sent.
    cursor_transaction_id = TransactionIdField(
        editable=False,
        db_default=models.Func(
            models.Func(function="pg_current_snapshot"), function="pg_snapshot_xmin", output_field=TransactionIdField()
        ),
    )
    cursor_event_id = models.BigIntegerField(default=0, editable=False)
    # The snapshot of its creation: the events it shows committed came before
    # the endpoint and are not sent, though a transaction older than both, still
    # running then, put the cursor's start before them. Null for the endpoints
    # made before it was kept (they send from their cursor on).
    created_snapshot = SnapshotField(
        null=True, editable=False, db_default=models.Func(function="pg_current_snapshot", output_field=SnapshotField())
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One event to send to one endpoint, until it is answered with a 2xx or
    its retries run out. ``next_attempt_at`` is when a drain may send it; a
    drain that takes it pushes it forward by a lease first, so that a worker
    killed mid-send leaves it due again (at least once)."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The event it sends; null for a ``webhook.test``, which is not in the feed.
    # No constraint: the event rows are append-only and outlive nothing here.
    event = models.ForeignKey(
        CouponEvent, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    event_type = models.CharField(max_length=40)
    # The body's ``data`` of a test event (an event's comes from its row).
    test_data = models.JSONField(null=True, blank=True)
    # ``webhook-id``: the event's id, the same on every attempt.
    message_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField()
    # After this a failure is final (24 hours after it was queued, or after a
    # staff retry).
    give_up_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The drain: an endpoint's due deliveries, oldest first.
            models.Index(
                fields=["endpoint", "next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhook_delivery_due_idx",
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending", finished_at__isnull=True)
                | (~Q(status="pending") & Q(finished_at__isnull=False)),
                name="webhook_delivery_finished_when_not_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} to {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One POST of a delivery and what came of it: a status code, or the error
    that stood for an answer (timeout, refused address, connection)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    # Copied from the delivery: the endpoint's attempts list in one index.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+", db_index=False)
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"], name="webhook_attempt_endpoint_idx")]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
