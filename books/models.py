from datetime import datetime

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from books.codes import CHARSETS, CUSTOM_CHARSET_LENGTH, DEFAULT_CHARSET
from couponsite.bounds import (
    ASSIGNMENT_TTL_SECONDS_MAX,
    ASSIGNMENT_TTL_SECONDS_MIN,
    CODE_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
)

DEFAULT_CODE_PATTERN = "####-####-####"


class Partner(models.Model):
    """A company whose backend calls the API. Owns books; sees only its own."""

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="partner_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class PartnerAPIKey(AbstractAPIKey):
    """A hashed API key of one partner (``Authorization: Api-Key <key>``)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "partner API key"
        verbose_name_plural = "partner API keys"


class Book(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="books")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True, default="", max_length=DESCRIPTION_MAX_LENGTH)
    max_codes_per_user = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many coupons one user may hold; empty means unlimited."
    )
    max_redemptions_per_coupon = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=1,
        help_text="1 for single use; more, or empty for unlimited, for gift-card style coupons.",
    )
    assignment_ttl_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds after which an assigned coupon with no use taken and no live lock returns to the pool; "
        "empty means never.",
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    code_pattern = models.CharField(max_length=CODE_MAX_LENGTH, default=DEFAULT_CODE_PATTERN)
    # What '#' draws from: a name of books.codes.CHARSETS or an alphabet of its own.
    charset = models.CharField(
        max_length=CUSTOM_CHARSET_LENGTH[1],
        default=DEFAULT_CHARSET,
        help_text=f"What '#' draws from: {', '.join(CHARSETS)}, or 10 to 64 characters of its own.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    metadata = models.JSONField(default=dict, db_default={}, blank=True)  # the partner's own data

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "-created_at"], name="book_partner_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_codes_per_user__isnull=True) | Q(max_codes_per_user__gte=1),
                name="book_max_codes_per_user_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions_per_coupon__isnull=True) | Q(max_redemptions_per_coupon__gte=1),
                name="book_max_redemptions_positive",
            ),
            models.CheckConstraint(
                condition=Q(assignment_ttl_seconds__isnull=True)
                | Q(
                    assignment_ttl_seconds__gte=ASSIGNMENT_TTL_SECONDS_MIN,
                    assignment_ttl_seconds__lte=ASSIGNMENT_TTL_SECONDS_MAX,
                ),
                name="book_assignment_ttl_in_bounds",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gt=models.F("valid_from")),
                name="book_window_ordered",
            ),
            # A name, or an alphabet of code characters of a length that can be one
            # (distinct characters are the service's to check).
            models.CheckConstraint(
                condition=Q(charset__in=list(CHARSETS))
                | Q(charset__regex=rf"^[A-Za-z0-9_-]{{{CUSTOM_CHARSET_LENGTH[0]},{CUSTOM_CHARSET_LENGTH[1]}}}$"),
                name="book_charset_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_open(self, *, at: datetime | None = None) -> bool:
        """Active and inside its validity window: assign, lock and redeem allowed."""
        at = at or timezone.now()
        if not self.is_active:
            return False
        if self.valid_from and at < self.valid_from:
            return False
        return not (self.valid_until and at >= self.valid_until)
