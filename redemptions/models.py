import uuid

from django.db import models
from django.db.models import Q

from coupons.models import Coupon
from couponsite.bounds import REASON_MAX_LENGTH, USER_ID_MAX_LENGTH


class Redemption(models.Model):
    """One successful use of a coupon. A rollback marks it, once, and gives the
    use back; the row and its history stay."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions", db_index=False)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.CharField(max_length=REASON_MAX_LENGTH, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["coupon", "created_at"], name="redemption_coupon_idx"),
            models.Index(fields=["created_at"], name="redemption_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rolled_back_at__isnull=True) | Q(rolled_back_at__gte=models.F("created_at")),
                name="redemption_rollback_after_redemption",
            )
        ]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def is_rolled_back(self) -> bool:
        return self.rolled_back_at is not None
