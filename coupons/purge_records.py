"""What the events' retention purge (``coupons.retention``) records of itself:
each run, and for each partner the last event of its feed it deleted. Models
of ``coupons``, imported by ``coupons.models`` (kept apart for its size)."""

from __future__ import annotations

from django.db import models

from books.models import Partner
from coupons.models import TransactionIdField


class EventPurge(models.Model):
    """One run of the purge: the audit trail keeps the record of its own
    trimming. The latest ``before`` is how far back the feed is complete."""

    started_at = models.DateTimeField()
    # Events created before this were deleted, but those a reader still needed.
    before = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    deleted = models.PositiveBigIntegerField(default=0)
    # Older than ``before`` and kept, for a reader that still needs them (the webhook outbox).
    kept = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"events before {self.before:%Y-%m-%d %H:%M} ({self.deleted} deleted)"


class EventPurgeMark(models.Model):
    """The last of a partner's feed events the purge deleted, as a position in
    the feed's order (transaction id, id), and the largest id deleted. A poll
    whose ``after`` lies before the position has missed an event for good
    (``coupons.feed``)."""

    partner = models.OneToOneField(Partner, primary_key=True, on_delete=models.CASCADE, related_name="+")
    transaction_id = TransactionIdField()
    event_id = models.BigIntegerField()
    through_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"partner {self.partner_id}: events up to {self.event_id} deleted"
