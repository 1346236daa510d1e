from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from books.models import Partner
from coupons.events import event_record
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.services import coupon_expire_lock_if_due, coupon_for_update
from couponsite.actors import Actor
from couponsite.errors import CouponVoid, InvalidInput, NotFound, RedemptionRolledBack
from redemptions.models import Redemption

ROLLBACK_REASON_MAX_LENGTH = 500


def redemption_rollback(*, partner: Partner, redemption_id: uuid.UUID, reason: str = "", actor: Actor) -> Coupon:
    """Undo one redemption, once: the use is given back and the history kept.

    A coupon locked at that moment stays locked; a void coupon is refused.
    """
    if len(reason) > ROLLBACK_REASON_MAX_LENGTH:
        detail = f"reason must be at most {ROLLBACK_REASON_MAX_LENGTH} characters."
        raise InvalidInput(detail, errors=[{"field": "reason", "detail": detail}])
    coupon_id = (
        Redemption.objects.filter(pk=redemption_id, coupon__partner=partner).values_list("coupon_id", flat=True).first()
    )
    if coupon_id is None:
        raise NotFound("No such redemption")
    with transaction.atomic():
        coupon = coupon_for_update(coupon_id=coupon_id)
        redemption = Redemption.objects.select_for_update().get(pk=redemption_id)
        if redemption.is_rolled_back:
            raise RedemptionRolledBack("The redemption was rolled back already")
        if coupon.state == CouponState.VOID:
            raise CouponVoid("The coupon was voided")
        coupon_expire_lock_if_due(coupon=coupon, now=timezone.now())
        from_state = coupon.state
        if coupon.state == CouponState.LOCKED:
            coupon.roll_back_redemption_while_locked()
        else:
            coupon.roll_back_redemption()
        coupon.save(update_fields=["state", "redemption_count", "updated_at"])
        redemption.rolled_back_at = timezone.now()
        redemption.rollback_reason = reason
        redemption.save(update_fields=["rolled_back_at", "rollback_reason"])
        event_record(
            coupon=coupon, action=CouponEvent.Action.ROLLBACK, from_state=from_state, actor=actor, redemption=redemption
        )
        return coupon
