"""Random sequences of every operation against a simple model of the rules."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponEvent
from coupons.services import (
    coupon_assign_code,
    coupon_assign_random,
    coupon_lock,
    coupon_unlock,
    coupon_void,
    locks_release_expired,
)
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.errors import ServiceError
from redemptions.models import Redemption
from redemptions.services import coupon_redeem, redemption_rollback

CODES = 3
USERS = ["u0", "u1"]
MAX_PER_USER = 2
MAX_USES = 2
ACTOR = Actor.api_key("model")
# Most calls come from the coupon's holder, so that sequences get deep enough
# to exhaust coupons; the others from any user.
CALLERS = st.sampled_from(["holder", "holder", "holder", *USERS])


@dataclasses.dataclass
class ModelCoupon:
    state: str = "available"
    user: str | None = None
    uses: int = 0
    lock_id: object = None
    lock_expired: bool = False

    def effective_state(self) -> str:
        return "assigned" if self.state == "locked" and self.lock_expired else self.state


class CouponRules(RuleBasedStateMachine):
    """The model says what each operation must do; the engine must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.book = BookFactory(max_codes_per_user=MAX_PER_USER, max_redemptions_per_coupon=MAX_USES)
        self.partner = self.book.partner
        # Sort keys in code order keep each example repeatable, as Hypothesis
        # needs to shrink; fairness is tested on real random keys elsewhere.
        coupons = make_coupons(self.book, CODES)
        for position, coupon in enumerate(coupons):
            Coupon.objects.filter(pk=coupon.pk).update(sort_key=position)
        self.codes = [c.code for c in coupons]
        self.model = {code: ModelCoupon() for code in self.codes}
        self.redemptions: list[list] = []  # [redemption id, code, rolled back], oldest first
        self.transitions = 0

    # helpers

    def held(self, user: str) -> int:
        return sum(1 for c in self.model.values() if c.user == user and c.state in ("assigned", "locked", "redeemed"))

    def expect(self, call, expected_code: str | None):
        try:
            result = call()
        except ServiceError as error:
            assert error.code == expected_code, f"got {error.code}, model expected {expected_code or 'success'}"
            return None
        assert expected_code is None, f"succeeded, model expected {expected_code}"
        return result

    def release_if_expired(self, coupon: ModelCoupon) -> None:
        if coupon.state == "locked" and coupon.lock_expired:
            coupon.state, coupon.lock_id, coupon.lock_expired = "assigned", None, False
            self.transitions += 1

    @staticmethod
    def resolve(caller: str, coupon: ModelCoupon) -> str:
        return (coupon.user or USERS[0]) if caller == "holder" else caller

    def usage_error(self, coupon: ModelCoupon, user: str) -> str | None:
        if coupon.user != user:
            return "coupon_not_held"
        if coupon.state == "void":
            return "coupon_void"
        if coupon.state == "redeemed" or coupon.uses >= MAX_USES:
            return "coupon_redeemed"
        return None

    # rules

    @rule(user=st.sampled_from(USERS))
    def assign_random(self, user):
        available = [code for code, c in self.model.items() if c.state == "available"]
        if self.held(user) >= MAX_PER_USER:
            expected = "assignment_limit_reached"
        elif not available:
            expected = "book_exhausted"
        else:
            expected = None
        coupon = self.expect(
            lambda: coupon_assign_random(partner=self.book.partner, book_id=self.book.pk, user_id=user, actor=ACTOR),
            expected,
        )
        if coupon is not None:
            assert coupon.code in available
            self.model[coupon.code].state, self.model[coupon.code].user = "assigned", user
            self.transitions += 1

    @rule(index=st.integers(0, CODES - 1), user=st.sampled_from(USERS))
    def assign_code(self, index, user):
        code = self.codes[index]
        coupon = self.model[code]
        if coupon.state != "available":
            expected = "coupon_unavailable"
        elif self.held(user) >= MAX_PER_USER:
            expected = "assignment_limit_reached"
        else:
            expected = None
        call = lambda: coupon_assign_code(partner=self.partner, code=code.lower(), user_id=user, actor=ACTOR)  # noqa: E731
        if self.expect(call, expected) is not None:
            coupon.state, coupon.user = "assigned", user
            self.transitions += 1

    @rule(index=st.integers(0, CODES - 1), caller=CALLERS)
    def lock(self, index, caller):
        code = self.codes[index]
        coupon = self.model[code]
        user = self.resolve(caller, coupon)
        expected = self.usage_error(coupon, user)
        if expected is None and coupon.effective_state() == "locked":
            expected = "coupon_locked"
        locked = self.expect(lambda: coupon_lock(partner=self.partner, code=code, user_id=user, actor=ACTOR), expected)
        if locked is not None:
            self.release_if_expired(coupon)
            coupon.state, coupon.lock_id = "locked", locked.lock_id
            self.transitions += 1

    @rule(index=st.integers(0, CODES - 1), caller=CALLERS, right_lock=st.booleans())
    def unlock(self, index, caller, right_lock):
        code = self.codes[index]
        coupon = self.model[code]
        user = self.resolve(caller, coupon)
        lock_id = coupon.lock_id if right_lock and coupon.lock_id else uuid.UUID(int=0)
        if coupon.user != user:
            expected = "coupon_not_held"
        elif coupon.state == "void":
            expected = "coupon_void"
        elif coupon.effective_state() != "locked":
            expected = "coupon_not_locked"
        elif not right_lock:
            expected = "coupon_locked"
        else:
            expected = None
        call = lambda: coupon_unlock(partner=self.partner, code=code, user_id=user, lock_id=lock_id, actor=ACTOR)  # noqa: E731
        if self.expect(call, expected) is not None:
            coupon.state, coupon.lock_id = "assigned", None
            self.transitions += 1

    @rule(index=st.integers(0, CODES - 1), caller=CALLERS, with_lock=st.booleans())
    def redeem(self, index, caller, with_lock):
        code = self.codes[index]
        coupon = self.model[code]
        user = self.resolve(caller, coupon)
        lock_id = coupon.lock_id if with_lock else None
        expected = self.usage_error(coupon, user)
        if expected is None and coupon.effective_state() == "locked" and not with_lock:
            expected = "coupon_locked"
        call = lambda: coupon_redeem(partner=self.partner, code=code, user_id=user, lock_id=lock_id, actor=ACTOR)  # noqa: E731
        result = self.expect(call, expected)
        if result is not None:
            self.release_if_expired(coupon)
            coupon.uses += 1
            coupon.state = "redeemed" if coupon.uses == MAX_USES else "assigned"
            coupon.lock_id = None
            self.redemptions.append([result[1].pk, code, False])
            self.transitions += 1

    @precondition(lambda self: self.redemptions)
    @rule(data=st.data())
    def rollback(self, data):
        entry = self.redemptions[data.draw(st.integers(0, len(self.redemptions) - 1))]
        redemption_id, code, rolled_back = entry
        coupon = self.model[code]
        if rolled_back:
            expected = "redemption_rolled_back"
        elif coupon.state == "void":
            expected = "coupon_void"
        else:
            expected = None
        call = lambda: redemption_rollback(partner=self.partner, redemption_id=redemption_id, actor=ACTOR)  # noqa: E731
        if self.expect(call, expected) is not None:
            self.release_if_expired(coupon)
            coupon.uses -= 1
            if coupon.state == "redeemed":
                coupon.state = "assigned"
            entry[2] = True
            self.transitions += 1

    @rule(index=st.integers(0, CODES - 1), staff_acts=st.integers(0, 4))
    def void(self, index, staff_acts):
        if staff_acts:  # voids are rare, or every sequence would end in them
            return
        code = self.codes[index]
        coupon = self.model[code]
        expected = {"void": "coupon_void", "redeemed": "coupon_redeemed"}.get(coupon.state)
        stored = Coupon.objects.get(partner=self.partner, code=code)
        if self.expect(lambda: coupon_void(coupon=stored, actor=Actor.staff(1)), expected) is not None:
            coupon.state, coupon.lock_id, coupon.lock_expired = "void", None, False
            self.transitions += 1

    @rule(index=st.integers(0, CODES - 1))
    def clock_passes_the_lock(self, index):
        code = self.codes[index]
        if self.model[code].state == "locked":
            Coupon.objects.filter(book=self.book, code=code).update(locked_until=timezone.now() - timedelta(seconds=1))
            self.model[code].lock_expired = True

    @rule()
    def release_expired_locks(self):
        expired = [c for c in self.model.values() if c.state == "locked" and c.lock_expired]
        # Earlier examples' books may add their own expired locks to the count.
        assert locks_release_expired() >= len(expired)
        for coupon in expired:
            self.release_if_expired(coupon)

    # invariants

    @invariant()
    def database_agrees_with_the_model(self):
        now = timezone.now()
        for coupon in Coupon.objects.filter(book=self.book):
            expected = self.model[coupon.code]
            assert coupon.effective_state(now=now) == expected.effective_state()
            assert coupon.user_id == expected.user
            assert coupon.redemption_count == expected.uses

    @invariant()
    def limits_hold(self):
        coupons = Coupon.objects.filter(book=self.book)
        assert all(c.redemption_count <= MAX_USES for c in coupons)
        for user in USERS:
            held = coupons.filter(user_id=user, state__in=["assigned", "locked", "redeemed"]).count()
            assert held <= MAX_PER_USER

    @invariant()
    def one_event_per_transition_and_one_row_per_live_redemption(self):
        assert CouponEvent.objects.filter(coupon__book=self.book).count() == self.transitions
        live = Redemption.objects.filter(coupon__book=self.book, rolled_back_at__isnull=True).count()
        assert live == sum(c.uses for c in self.model.values())


@pytest.mark.django_db
def test_random_operation_sequences_keep_every_rule():
    run_state_machine_as_test(
        CouponRules,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
