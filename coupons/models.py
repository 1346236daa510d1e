from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django_fsm import FSMField, transition

from books.models import Book, Partner
from coupons.codes import CODE_MAX_LENGTH, CODE_REGEX

USER_ID_MAX_LENGTH = 128


class CouponState(models.TextChoices):
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    LOCKED = "locked"
    REDEEMED = "redeemed"
    VOID = "void"


S = CouponState


class Coupon(models.Model):
    """One code of one book. The state field is protected: it changes only
    through the transitions below, which services call under an advisory lock."""

    # No index of its own: the (book, ...) indexes below serve every look-up by
    # book, and each extra index slows the bulk loads.
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="coupons", db_index=False)
    # Denormalised from the book so that the database can hold codes unique
    # per partner, case-insensitively.
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=CODE_MAX_LENGTH)
    state = FSMField(default=S.AVAILABLE, choices=S.choices, protected=True, max_length=16)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    lock_id = models.UUIDField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    redemption_count = models.PositiveIntegerField(default=0)
    # Secret, CSPRNG-drawn order of random assignment; never leaves the database.
    sort_key = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Random assignment: the lowest sort_key among a book's available coupons.
            models.Index(fields=["book", "sort_key"], condition=Q(state="available"), name="coupon_available_pick_idx"),
            # The watermark for new keys: the largest sort_key below the next pick.
            models.Index(fields=["book", "sort_key"], name="coupon_book_sort_key_idx"),
            # A user's coupons.
            models.Index(
                fields=["partner", "user_id", "book"], condition=Q(user_id__isnull=False), name="coupon_user_idx"
            ),
            # Expired-lock release.
            models.Index(fields=["locked_until"], condition=Q(state="locked"), name="coupon_lock_expiry_idx"),
            # A book's coupons by state, paged by id.
            models.Index(fields=["book", "state", "id"], name="coupon_book_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(Upper("code"), "partner", name="coupon_code_unique_per_partner_ci"),
            models.CheckConstraint(condition=Q(code__regex=CODE_REGEX), name="coupon_code_format"),
            models.CheckConstraint(condition=Q(state__in=S.values), name="coupon_state_known"),
            models.CheckConstraint(
                condition=Q(state=S.AVAILABLE, user_id__isnull=True, assigned_at__isnull=True)
                | Q(state=S.VOID)
                | Q(
                    state__in=[S.ASSIGNED, S.LOCKED, S.REDEEMED],
                    user_id__isnull=False,
                    assigned_at__isnull=False,
                ),
                name="coupon_holder_matches_state",
            ),
            models.CheckConstraint(
                condition=Q(state=S.LOCKED, lock_id__isnull=False, locked_until__isnull=False)
                | (~Q(state=S.LOCKED) & Q(lock_id__isnull=True, locked_until__isnull=True)),
                name="coupon_lock_matches_state",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        # The protected field refuses to be set once loaded; forget it first so
        # that reloading writes it as a first load (thread-safe, unlike
        # toggling the field's flag as django-fsm's mixin does).
        if fields is None or "state" in fields:
            self.__dict__.pop("state", None)
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)

    def lock_is_live(self, *, now: datetime) -> bool:
        return self.state == S.LOCKED and self.locked_until is not None and self.locked_until > now

    def lock_has_expired(self, *, now: datetime) -> bool:
        return self.state == S.LOCKED and not self.lock_is_live(now=now)

    def effective_state(self, *, now: datetime) -> str:
        """The state as partners see it: an expired lock counts as released."""
        return S.ASSIGNED if self.lock_has_expired(now=now) else self.state

    def redemptions_remaining(self, *, limit: int | None) -> int | None:
        """Uses left under the book's ``limit`` (None: unlimited). A redeemed or
        void coupon has none, even if the book's limit is raised later."""
        if self.state in (S.REDEEMED, S.VOID):
            return 0
        if limit is None:
            return None
        return max(limit - self.redemption_count, 0)

    # Transitions: only the state change and the fields that go with it. The
    # services take the lock, check the rules and write the event.

    @transition(field=state, source=S.AVAILABLE, target=S.ASSIGNED)
    def assign(self, *, user_id: str, at: datetime) -> None:
        self.user_id = user_id
        self.assigned_at = at

    @transition(field=state, source=S.ASSIGNED, target=S.LOCKED)
    def lock(self, *, lock_id: uuid.UUID, until: datetime) -> None:
        self.lock_id = lock_id
        self.locked_until = until

    @transition(field=state, source=S.LOCKED, target=S.ASSIGNED)
    def unlock(self) -> None:
        self._clear_lock()

    @transition(field=state, source=S.LOCKED, target=S.ASSIGNED)
    def expire_lock(self) -> None:
        self._clear_lock()

    @transition(field=state, source=[S.ASSIGNED, S.LOCKED], target=S.ASSIGNED)
    def redeem_partially(self) -> None:
        self._clear_lock()
        self.redemption_count += 1

    @transition(field=state, source=[S.ASSIGNED, S.LOCKED], target=S.REDEEMED)
    def redeem_fully(self) -> None:
        self._clear_lock()
        self.redemption_count += 1

    @transition(field=state, source=[S.REDEEMED, S.ASSIGNED], target=S.ASSIGNED)
    def roll_back_redemption(self) -> None:
        self.redemption_count -= 1

    @transition(field=state, source=S.LOCKED, target=S.LOCKED)
    def roll_back_redemption_while_locked(self) -> None:
        self.redemption_count -= 1

    @transition(field=state, source=[S.AVAILABLE, S.ASSIGNED, S.LOCKED], target=S.VOID)
    def void(self) -> None:
        self._clear_lock()

    def _clear_lock(self) -> None:
        self.lock_id = None
        self.locked_until = None


class CouponEvent(models.Model):
    """Append-only audit row, one per transition (the database refuses
    updates and deletes)."""

    class Action(models.TextChoices):
        ASSIGN = "assign"
        LOCK = "lock"
        UNLOCK = "unlock"
        LOCK_EXPIRED = "lock_expired"
        REDEEM = "redeem"
        ROLLBACK = "rollback"
        VOID = "void"

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="events", db_index=False)
    action = models.CharField(max_length=16, choices=Action.choices)
    from_state = models.CharField(max_length=16, choices=S.choices)
    to_state = models.CharField(max_length=16, choices=S.choices)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, null=True, blank=True)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=150)
    request_id = models.CharField(max_length=64, blank=True, default="")
    redemption = models.ForeignKey(
        "redemptions.Redemption", null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["coupon", "id"], name="event_coupon_idx")]

    def __str__(self) -> str:
        return f"{self.coupon_id} {self.action} {self.from_state}->{self.to_state}"
