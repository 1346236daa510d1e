from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Case, Count, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Upper
from django_fsm import FSMField

from books.codes import CODE_REGEX
from books.models import Book, Partner
from coupons.event_types import NO_BOOK_ACTIONS, NO_COUPON_ACTIONS, EventAction
from coupons.lifecycle_rows import Add, Clear, Effect, LifecycleRow, Param, RedrawSortKey
from couponsite.bounds import CODE_MAX_LENGTH, USER_ID_MAX_LENGTH


class CouponState(models.TextChoices):
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    LOCKED = "locked"
    REDEEMED = "redeemed"
    VOID = "void"


RELEASE_LOCK: Mapping[str, Effect] = {"lock_id": Clear(), "locked_until": Clear()}
TAKE_A_USE: Mapping[str, Effect] = {**RELEASE_LOCK, "redemption_count": Add(1)}
GIVE_A_USE_BACK: Mapping[str, Effect] = {"redemption_count": Add(-1)}
RETURN_TO_POOL: Mapping[str, Effect] = {
    "user_id": Clear(),
    "assigned_at": Clear(),
    **RELEASE_LOCK,
    "sort_key": RedrawSortKey(),
}


# An assignment expires its book's assignment_ttl_seconds after assigned_at.
TTL = F("book__assignment_ttl_seconds") * Value(timedelta(seconds=1), output_field=models.DurationField())


class CouponQuerySet(models.QuerySet):
    """The state as partners see it, for many coupons at once
    (``Coupon.effective_state`` for one): a lock past its time counts as
    released, and an assignment past its book's ``assignment_ttl_seconds``
    (no use taken, no live lock) as returned to the pool."""

    def live_lock(self, *, now: datetime) -> Q:
        return Q(state=CouponState.LOCKED, locked_until__gt=now)

    def lock_expired_q(self, *, now: datetime) -> Q:
        return Q(state=CouponState.LOCKED, locked_until__lte=now)

    def assignment_expired_q(self, *, now: datetime) -> Q:
        """Assigned (or locked past its time), no use taken, and the book's TTL passed."""
        return (Q(state=CouponState.ASSIGNED) | self.lock_expired_q(now=now)) & Q(
            redemption_count=0,
            book__assignment_ttl_seconds__isnull=False,
            assigned_at__lte=ExpressionWrapper(Value(now) - TTL, output_field=models.DateTimeField()),
        )

    def assignment_running_q(self, *, now: datetime) -> Q:
        """The complement of ``assignment_expired_q`` among assigned coupons,
        written positively (a negation would read a NULL TTL as unknown)."""
        return (
            Q(redemption_count__gt=0)
            | Q(book__assignment_ttl_seconds__isnull=True)
            | Q(assigned_at__gt=ExpressionWrapper(Value(now) - TTL, output_field=models.DateTimeField()))
        )

    def in_effective_state(self, state: str, *, now: datetime) -> CouponQuerySet:
        if state == CouponState.AVAILABLE:
            return self.filter(Q(state=CouponState.AVAILABLE) | self.assignment_expired_q(now=now))
        if state == CouponState.ASSIGNED:
            return self.filter(
                (Q(state=CouponState.ASSIGNED) | self.lock_expired_q(now=now)) & self.assignment_running_q(now=now)
            )
        if state == CouponState.LOCKED:
            return self.filter(self.live_lock(now=now))
        return self.filter(state=state)

    def lock_expired(self, *, now: datetime) -> CouponQuerySet:
        return self.filter(self.lock_expired_q(now=now))

    def assignment_expired(self, *, now: datetime) -> CouponQuerySet:
        return self.filter(self.assignment_expired_q(now=now))

    def of_user(self, user_id: str, *, now: datetime) -> CouponQuerySet:
        """The user's coupons as partners see them: an expired assignment is nobody's."""
        return self.filter(
            Q(user_id=user_id)
            & (
                ~Q(state__in=[CouponState.ASSIGNED, CouponState.LOCKED])
                | self.live_lock(now=now)
                | self.assignment_running_q(now=now)
            )
        )

    def with_effective_state(self, *, now: datetime) -> CouponQuerySet:
        return self.annotate(
            effective_state=Case(
                When(self.assignment_expired_q(now=now), then=Value(CouponState.AVAILABLE.value)),
                When(self.lock_expired_q(now=now), then=Value(CouponState.ASSIGNED.value)),
                default=F("state"),
                output_field=models.CharField(),
            ),
        )

    def state_counts(self, *, now: datetime) -> dict[str, int]:
        """How many coupons are in each effective state, and in all, in one scan."""
        live_lock = self.live_lock(now=now)
        assigned = Q(state=CouponState.ASSIGNED) | self.lock_expired_q(now=now)
        return self.aggregate(
            available=Count("id", filter=Q(state=CouponState.AVAILABLE) | self.assignment_expired_q(now=now)),
            assigned=Count("id", filter=assigned & self.assignment_running_q(now=now)),
            locked=Count("id", filter=live_lock),
            redeemed=Count("id", filter=Q(state=CouponState.REDEEMED)),
            void=Count("id", filter=Q(state=CouponState.VOID)),
            total=Count("id"),
        )


def assignment_expired_sql(*, coupon: str, ttl: str, now: str) -> str:
    """``CouponQuerySet.assignment_expired_q`` as SQL text, for the hand-written
    statements of the hot path (``coupons.locked_reads``): ``coupon`` is the
    coupon row's alias, ``ttl`` the book's TTL column and ``now`` the clock's
    placeholder. A test holds the two to the same rows."""
    return (
        f"({coupon}.redemption_count = 0 AND {ttl} IS NOT NULL"
        f" AND ({coupon}.state = 'assigned' OR ({coupon}.state = 'locked' AND {coupon}.locked_until <= {now}))"
        f" AND {coupon}.assigned_at <= {now} - {ttl} * interval '1 second')"
    )


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
    state = FSMField(default=CouponState.AVAILABLE, choices=CouponState.choices, protected=True, max_length=16)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    lock_id = models.UUIDField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    redemption_count = models.PositiveIntegerField(default=0)
    # Secret, CSPRNG-drawn order of random assignment; never leaves the database.
    sort_key = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The partner's own data (couponsite.bounds.metadata_problem); a default in
    # the database too, for the bulk loads' INSERT ... SELECT.
    metadata = models.JSONField(default=dict, db_default={}, blank=True)

    objects = CouponQuerySet.as_manager()

    class Meta:
        indexes = [
            # The pick, the only index in its order (sort_key, id: docs/architecture.md),
            # and the watermark for new keys (the largest sort_key below the next pick).
            models.Index(
                fields=["book", "sort_key", "id"], condition=Q(state="available"), name="coupon_pick_order_idx"
            ),
            models.Index(fields=["book", "sort_key"], name="coupon_book_sort_key_idx"),
            models.Index(
                fields=["partner", "user_id", "book"], condition=Q(user_id__isnull=False), name="coupon_user_idx"
            ),
            # Expired assignments of a book (the pick's fallback, the housekeeping job).
            models.Index(
                fields=["book", "assigned_at"],
                condition=Q(state__in=["assigned", "locked"], redemption_count=0),
                name="coupon_assignment_expiry_idx",
            ),
            # Expired-lock release.
            models.Index(fields=["locked_until"], condition=Q(state="locked"), name="coupon_lock_expiry_idx"),
            # A book's coupons by state, paged by id.
            models.Index(fields=["book", "state", "id"], name="coupon_book_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(Upper("code"), "partner", name="coupon_code_unique_per_partner_ci"),
            models.CheckConstraint(condition=Q(code__regex=CODE_REGEX), name="coupon_code_format"),
            models.CheckConstraint(condition=Q(state__in=CouponState.values), name="coupon_state_known"),
            models.CheckConstraint(
                condition=Q(state=CouponState.AVAILABLE, user_id__isnull=True, assigned_at__isnull=True)
                | Q(state=CouponState.VOID)
                | Q(
                    state__in=[CouponState.ASSIGNED, CouponState.LOCKED, CouponState.REDEEMED],
                    user_id__isnull=False,
                    assigned_at__isnull=False,
                ),
                name="coupon_holder_matches_state",
            ),
            models.CheckConstraint(
                condition=Q(state=CouponState.LOCKED, lock_id__isnull=False, locked_until__isnull=False)
                | (~Q(state=CouponState.LOCKED) & Q(lock_id__isnull=True, locked_until__isnull=True)),
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
        return self.state == CouponState.LOCKED and self.locked_until is not None and self.locked_until > now

    def lock_has_expired(self, *, now: datetime) -> bool:
        return self.state == CouponState.LOCKED and not self.lock_is_live(now=now)

    def assignment_has_expired(self, *, now: datetime) -> bool:
        """Assigned (or locked past its time) with no use taken, for longer
        than its book's ``assignment_ttl_seconds``: back in the pool."""
        ttl = self.book.assignment_ttl_seconds
        if ttl is None or self.redemption_count != 0 or self.assigned_at is None:
            return False
        if self.state != CouponState.ASSIGNED and not self.lock_has_expired(now=now):
            return False
        return self.assigned_at + timedelta(seconds=ttl) <= now

    def effective_state(self, *, now: datetime) -> str:
        """The state as partners see it: an expired lock counts as released,
        an expired assignment as available."""
        if self.assignment_has_expired(now=now):
            return CouponState.AVAILABLE
        return CouponState.ASSIGNED if self.lock_has_expired(now=now) else self.state

    def holder(self, *, now: datetime) -> str | None:
        """The user who holds the coupon as partners see it: nobody once its assignment expired."""
        return None if self.assignment_has_expired(now=now) else self.user_id

    def redemptions_remaining(self, *, limit: int | None) -> int | None:
        """Uses left under the book's ``limit`` (None: unlimited). A redeemed or
        void coupon has none, even if the book's limit is raised later."""
        if self.state in (CouponState.REDEEMED, CouponState.VOID):
            return 0
        if limit is None:
            return None
        return max(limit - self.redemption_count, 0)

    # The lifecycle table: source and target (django-fsm), the event each
    # transition records and the fields it writes. Services take the lock, check
    # the rules and call coupons.lifecycle.coupon_transition with one of these.
    assign = LifecycleRow(
        source=CouponState.AVAILABLE,
        target=CouponState.ASSIGNED,
        action=EventAction.ASSIGN,
        writes={"user_id": Param("user_id"), "assigned_at": Param("at")},
    )
    lock = LifecycleRow(
        source=CouponState.ASSIGNED,
        target=CouponState.LOCKED,
        action=EventAction.LOCK,
        writes={"lock_id": Param("lock_id"), "locked_until": Param("until")},
    )
    unlock = LifecycleRow(
        source=CouponState.LOCKED, target=CouponState.ASSIGNED, action=EventAction.UNLOCK, writes=RELEASE_LOCK
    )
    expire_lock = LifecycleRow(
        source=CouponState.LOCKED, target=CouponState.ASSIGNED, action=EventAction.LOCK_EXPIRED, writes=RELEASE_LOCK
    )
    redeem_partially = LifecycleRow(
        source=[CouponState.ASSIGNED, CouponState.LOCKED],
        target=CouponState.ASSIGNED,
        action=EventAction.REDEEM,
        writes=TAKE_A_USE,
    )
    redeem_fully = LifecycleRow(
        source=[CouponState.ASSIGNED, CouponState.LOCKED],
        target=CouponState.REDEEMED,
        action=EventAction.REDEEM,
        writes=TAKE_A_USE,
    )
    roll_back_redemption = LifecycleRow(
        source=[CouponState.REDEEMED, CouponState.ASSIGNED],
        target=CouponState.ASSIGNED,
        action=EventAction.ROLLBACK,
        writes=GIVE_A_USE_BACK,
    )
    roll_back_redemption_while_locked = LifecycleRow(
        source=CouponState.LOCKED, target=CouponState.LOCKED, action=EventAction.ROLLBACK, writes=GIVE_A_USE_BACK
    )
    unassign = LifecycleRow(
        source=CouponState.ASSIGNED, target=CouponState.AVAILABLE, action=EventAction.UNASSIGN, writes=RETURN_TO_POOL
    )
    expire_assignment = LifecycleRow(
        source=[CouponState.ASSIGNED, CouponState.LOCKED],
        target=CouponState.AVAILABLE,
        action=EventAction.ASSIGNMENT_EXPIRED,
        writes=RETURN_TO_POOL,
    )
    void = LifecycleRow(
        source=[CouponState.AVAILABLE, CouponState.ASSIGNED, CouponState.LOCKED],
        target=CouponState.VOID,
        action=EventAction.VOID,
        writes=RELEASE_LOCK,
    )


class TransactionIdField(models.Field):
    """A PostgreSQL ``xid8``: the id of the transaction that wrote the row. The
    events feed compares it with the oldest transaction still running, in SQL."""

    def db_type(self, connection: Any) -> str:
        return "xid8"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        return None if value is None else int(value)


class CouponEvent(models.Model):
    """Append-only audit row and events feed: a coupon's transition, a book's bulk
    load, export or change (no coupon, no states), an end user's erasure (no book).
    Updates and deletes refused but ``coupons.erasure``'s and ``coupons.retention``'s.

    ``partner`` and ``book`` are copied from the coupon in the statement that
    writes the event, with no foreign-key constraint: its check would share-lock
    the book's and the partner's rows on every assignment (MultiXact traffic on
    the hottest rows), and the rows are never deleted."""

    partner = models.ForeignKey(
        Partner, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    book = models.ForeignKey(
        Book, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    action = models.CharField(max_length=40, choices=EventAction.choices)
    from_state = models.CharField(max_length=16, choices=CouponState.choices, null=True, blank=True)
    to_state = models.CharField(max_length=16, choices=CouponState.choices, null=True, blank=True)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, null=True, blank=True)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=150)
    request_id = models.CharField(max_length=64, blank=True, default="")
    # The one link from this layer up to redemptions (by name, so no import):
    # a redeem or rollback event names its redemption.
    redemption = models.ForeignKey(
        "redemptions.Redemption", null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    # What the feed shows: the coupon as the API showed it after the change
    # (or the book-level counts). Null on events recorded before the feed.
    data = models.JSONField(null=True, blank=True)
    # The writing transaction, so that the feed hands out only events no
    # running transaction can still precede (coupons.feed). Null before the feed.
    transaction_id = TransactionIdField(
        null=True,
        editable=False,
        db_default=models.Func(function="pg_current_xact_id", output_field=TransactionIdField()),
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["coupon", "id"], name="event_coupon_idx"),
            # The feed: a partner's events in (transaction, id) order.
            models.Index(
                fields=["partner", "transaction_id", "id"],
                condition=Q(transaction_id__isnull=False),
                name="event_feed_idx",
            ),
            models.Index(fields=["partner", "user_id"], condition=Q(user_id__isnull=False), name="event_user_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=NO_COUPON_ACTIONS, coupon__isnull=True)
                | (
                    ~Q(action__in=NO_COUPON_ACTIONS)
                    & Q(coupon__isnull=False, from_state__isnull=False, to_state__isnull=False)
                ),
                name="event_coupon_matches_action",
            ),
            models.CheckConstraint(
                condition=Q(action__in=NO_BOOK_ACTIONS, book__isnull=True)
                | (~Q(action__in=NO_BOOK_ACTIONS) & Q(book__isnull=False)),
                name="event_book_matches_action",
            ),
        ]

    def __str__(self) -> str:
        if self.coupon_id is None:
            return f"{f'book {self.book_id}' if self.book_id else f'partner {self.partner_id}'} {self.action}"
        return f"{self.coupon_id} {self.action} {self.from_state}->{self.to_state}"


# The retention purge's records (a module of their own: this one is at its size limit).
from coupons.purge_records import EventPurge, EventPurgeMark  # noqa: E402, F401
