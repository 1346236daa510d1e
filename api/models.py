from django.db import models

from books.models import Partner


class IdempotencyKey(models.Model):
    """The first response to a partner's POST with an ``Idempotency-Key``,
    written in the same transaction as the request's effect."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2048)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.TextField(help_text="The rendered body, replayed byte for byte.")
    response_content_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_unique_per_partner")]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key}"


class RateCounter(models.Model):
    """A fixed-window counter for rate limits when Redis is not configured;
    bumped with one atomic upsert (see ``api.counters``). The table is
    UNLOGGED: counters need not survive a crash and are written on every call."""

    key = models.CharField(max_length=300, primary_key=True)
    count = models.IntegerField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
