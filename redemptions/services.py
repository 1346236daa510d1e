"""Redemptions: using a coupon once, and giving a use back. Built on the
coupons layer's public lifecycle API, under the same coupon lock."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from books.models import Partner
from coupons.events import snapshot_time
from coupons.lifecycle import coupon_transition
from coupons.locked_reads import coupon_for_update, coupon_for_update_by_code
from coupons.models import Coupon, CouponState
from coupons.services import coupon_check_usable, coupon_expire_lock_if_due
from couponsite.actors import Actor
from couponsite.bounds import REASON_MAX_LENGTH, checked_metadata, checked_user_id
from couponsite.db import prepare_once
from couponsite.errors import CouponLocked, CouponVoid, InvalidInput, NotFound, RedemptionRolledBack
from redemptions.models import Redemption

INSERT_REDEMPTION_SQL = prepare_once(f"""
INSERT INTO {Redemption._meta.db_table} (id, coupon_id, user_id, metadata, created_at, rolled_back_at, rollback_reason)
VALUES (%(redemption_id)s, %(coupon_id)s, %(redemption_user_id)s, %(redemption_metadata)s, %(now)s, NULL, '')
""")  # noqa: S608 - the table name is ours, the values are parameters


def redemption_snapshot(redemption: Redemption, *, coupon: Coupon) -> dict:
    """The redemption (of ``coupon``) as the API shows it, for the event of its
    redeem or rollback."""
    return {
        "redemption": {
            "id": str(redemption.pk),
            "code": coupon.code,
            "book_id": coupon.book_id,
            "user_id": redemption.user_id,
            "created_at": snapshot_time(redemption.created_at),
            "metadata": redemption.metadata,
            "rolled_back_at": snapshot_time(redemption.rolled_back_at),
            "rollback_reason": redemption.rollback_reason,
        }
    }


def coupon_redeem(
    *,
    partner: Partner,
    code: str,
    user_id: str,
    lock_id: uuid.UUID | None = None,
    metadata: dict | None = None,
    actor: Actor,
) -> tuple[Coupon, Redemption]:
    """Use the coupon once. A locked coupon needs its ``lock_id``; an assigned
    one is locked and redeemed in one step."""
    user_id = checked_user_id(user_id)
    metadata = checked_metadata(metadata)
    with transaction.atomic():
        coupon = coupon_for_update_by_code(partner=partner, code=code)
        now = timezone.now()
        coupon_check_usable(coupon, user_id=user_id, now=now)
        coupon_expire_lock_if_due(coupon=coupon, now=now)
        if coupon.state == CouponState.LOCKED and coupon.lock_id != lock_id:
            raise CouponLocked()
        last_use = coupon.redemptions_remaining(limit=coupon.book.max_redemptions_per_coupon) == 1
        redemption = Redemption(id=uuid.uuid4(), coupon=coupon, user_id=user_id, metadata=metadata, created_at=now)
        transition = coupon.redeem_fully if last_use else coupon.redeem_partially
        # The redemption's row goes in the transition's own call, before its event names it.
        insert = (INSERT_REDEMPTION_SQL, {"redemption_user_id": user_id, "redemption_metadata": Jsonb(metadata)})
        coupon_transition(
            transition,
            actor=actor,
            redemption_id=redemption.pk,
            event_data=redemption_snapshot(redemption, coupon=coupon),
            now=now,
            before=insert,
        )
        redemption._state.adding = False
        return coupon, redemption


def redemption_rollback(*, partner: Partner, redemption_id: uuid.UUID, reason: str = "", actor: Actor) -> Coupon:
    """Undo one redemption, once: the use is given back and the history kept.

    A coupon locked at that moment stays locked; a void coupon is refused.
    """
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput.field("reason", f"reason must be at most {REASON_MAX_LENGTH} characters.")
    coupon_id = (
        Redemption.objects.filter(pk=redemption_id, coupon__partner=partner).values_list("coupon_id", flat=True).first()
    )
    if coupon_id is None:
        raise NotFound("No such redemption")
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=coupon_id)
        redemption = Redemption.objects.select_for_update().get(pk=redemption_id)
        if redemption.is_rolled_back:
            raise RedemptionRolledBack()
        if coupon.state == CouponState.VOID:
            raise CouponVoid()
        coupon_expire_lock_if_due(coupon=coupon, now=timezone.now())
        redemption.rolled_back_at = timezone.now()
        redemption.rollback_reason = reason
        redemption.save(update_fields=["rolled_back_at", "rollback_reason"])
        locked = coupon.state == CouponState.LOCKED
        transition = coupon.roll_back_redemption_while_locked if locked else coupon.roll_back_redemption
        coupon_transition(
            transition,
            actor=actor,
            redemption_id=redemption.pk,
            event_data=redemption_snapshot(redemption, coupon=coupon),
        )
        return coupon
