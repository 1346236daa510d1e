"""The audit trail: one small function writes every event."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_guid import get_guid

from coupons.models import Coupon, CouponEvent
from couponsite.actors import Actor

if TYPE_CHECKING:
    from redemptions.models import Redemption


def event_record(
    *,
    coupon: Coupon,
    action: CouponEvent.Action,
    from_state: str,
    actor: Actor,
    redemption: Redemption | None = None,
) -> CouponEvent:
    """Append the event for a transition the caller has just made on ``coupon``."""
    return CouponEvent.objects.create(
        coupon=coupon,
        action=action,
        from_state=from_state,
        to_state=coupon.state,
        user_id=coupon.user_id,
        actor_kind=actor.kind,
        actor_id=actor.identifier,
        request_id=get_guid() or "",
        redemption=redemption,
    )
