"""The model's state machine: every allowed and every refused transition."""

import uuid

import pytest
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from coupons.models import Coupon, CouponState
from coupons.tests.factories import CouponFactory

S = CouponState
NOW = timezone.now()

TRANSITIONS = {
    "assign": {"kwargs": {"user_id": "u1", "at": NOW}, "allowed": {S.AVAILABLE: S.ASSIGNED}},
    "lock": {"kwargs": {"lock_id": uuid.uuid4(), "until": NOW}, "allowed": {S.ASSIGNED: S.LOCKED}},
    "unlock": {"kwargs": {}, "allowed": {S.LOCKED: S.ASSIGNED}},
    "expire_lock": {"kwargs": {}, "allowed": {S.LOCKED: S.ASSIGNED}},
    "redeem_partially": {"kwargs": {}, "allowed": {S.ASSIGNED: S.ASSIGNED, S.LOCKED: S.ASSIGNED}},
    "redeem_fully": {"kwargs": {}, "allowed": {S.ASSIGNED: S.REDEEMED, S.LOCKED: S.REDEEMED}},
    "roll_back_redemption": {"kwargs": {}, "allowed": {S.REDEEMED: S.ASSIGNED, S.ASSIGNED: S.ASSIGNED}},
    "roll_back_redemption_while_locked": {"kwargs": {}, "allowed": {S.LOCKED: S.LOCKED}},
    "void": {"kwargs": {}, "allowed": {S.AVAILABLE: S.VOID, S.ASSIGNED: S.VOID, S.LOCKED: S.VOID}},
}

CASES = [(name, source) for name in TRANSITIONS for source in S.values]


def coupon_in(state: str) -> Coupon:
    """An unsaved coupon loaded as if read from the database in ``state``."""
    return Coupon(code="X", state=state, sort_key=1, redemption_count=1)


@pytest.mark.parametrize(("name", "source"), CASES, ids=[f"{n}-from-{s}" for n, s in CASES])
def test_transition_is_allowed_exactly_from_its_sources(name, source):
    coupon = coupon_in(source)
    spec = TRANSITIONS[name]
    if source in spec["allowed"]:
        getattr(coupon, name)(**spec["kwargs"])
        assert coupon.state == spec["allowed"][source]
    else:
        with pytest.raises(TransitionNotAllowed):
            getattr(coupon, name)(**spec["kwargs"])
        assert coupon.state == source


def test_void_is_terminal():
    coupon = coupon_in(S.VOID)
    for name, spec in TRANSITIONS.items():
        with pytest.raises(TransitionNotAllowed):
            getattr(coupon, name)(**spec["kwargs"])


def test_protected_state_refuses_direct_assignment():
    coupon = coupon_in(S.AVAILABLE)
    with pytest.raises(AttributeError, match="Direct state modification is not allowed"):
        coupon.state = S.REDEEMED


@pytest.mark.django_db
def test_refresh_from_db_reloads_a_state_changed_elsewhere():
    coupon = CouponFactory()
    Coupon.objects.filter(pk=coupon.pk).update(state=S.VOID)

    coupon.refresh_from_db()

    assert coupon.state == S.VOID
    with pytest.raises(AttributeError):
        coupon.state = S.AVAILABLE
