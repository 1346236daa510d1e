"""What the events table records (its ``action``), and the events feed's
name for each that partners are told about."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import models


class EventAction(models.TextChoices):
    """What an audit event records: one per transition, named in the table
    below, the book-level records of bulk work and staff changes, and the
    partner-level record of an end user's erasure."""

    ASSIGN = "assign"
    LOCK = "lock"
    UNLOCK = "unlock"
    LOCK_EXPIRED = "lock_expired"
    REDEEM = "redeem"
    ROLLBACK = "rollback"
    VOID = "void"
    UNASSIGN = "unassign"
    ASSIGNMENT_EXPIRED = "assignment_expired"
    CODES_ADDED = "codes_added"
    BOOK_UPDATED = "book_updated"
    CODES_EXPORTED = "codes_exported"
    USER_ERASED = "user_erased"


# The events feed's name of each action partners are told about (DESIGN.md,
# "Events feed and webhooks"). An action missing here is an audit record only:
# staff read it in the admin, partners never see it.
FEED_TYPES: Mapping[str, str] = {
    EventAction.ASSIGN: "coupon.assigned",
    EventAction.LOCK: "coupon.locked",
    EventAction.UNLOCK: "coupon.unlocked",
    EventAction.LOCK_EXPIRED: "coupon.lock_expired",
    EventAction.REDEEM: "coupon.redeemed",
    EventAction.ROLLBACK: "coupon.redemption_rolled_back",
    EventAction.UNASSIGN: "coupon.unassigned",
    EventAction.ASSIGNMENT_EXPIRED: "coupon.assignment_expired",
    EventAction.VOID: "coupon.voided",
    EventAction.CODES_ADDED: "book.codes_added",
    EventAction.USER_ERASED: "user.erased",
}
# Events of a whole book: no coupon, no states.
BOOK_ACTIONS = frozenset({EventAction.CODES_ADDED, EventAction.BOOK_UPDATED, EventAction.CODES_EXPORTED})
# Events of the whole partner: no book either.
PARTNER_ACTIONS = frozenset({EventAction.USER_ERASED})
# What the events table's CHECK constraints name.
NO_COUPON_ACTIONS = sorted(BOOK_ACTIONS | PARTNER_ACTIONS)
NO_BOOK_ACTIONS = sorted(PARTNER_ACTIONS)
FEED_ACTIONS = {feed_type: action for action, feed_type in FEED_TYPES.items()}
FEED_TYPE_NAMES = sorted(FEED_TYPES.values())
