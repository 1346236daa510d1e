"""``manage.py erase_user PARTNER USER_ID``: the API's erasure, for a request
that reached the operators rather than the partner."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from coupons.event_types import EventAction
from coupons.models import Coupon, CouponEvent
from coupons.services import coupon_assign_random
from couponsite.actors import Actor

pytestmark = pytest.mark.django_db


def test_the_command_erases_the_partners_user_and_says_how_many_rows(tenant, other):
    for holder in (tenant, other):
        coupon_assign_random(partner=holder.partner, book_id=holder.book.pk, user_id="alice", actor=Actor.system("t"))
    out = io.StringIO()

    call_command("erase_user", tenant.partner.name.upper(), "alice", stdout=out)

    assert "1 coupons, 1 events, 0 redemptions rewritten" in out.getvalue()
    event = CouponEvent.objects.get(action=EventAction.USER_ERASED)
    assert (event.partner_id, event.actor_kind, event.actor_id) == (tenant.partner.pk, "system", "erase_user")
    assert list(Coupon.objects.filter(user_id="alice").values_list("partner_id", flat=True)) == [other.partner.pk]


def test_an_unknown_partner_or_a_bad_user_id_is_one_line_and_changes_nothing(tenant):
    with pytest.raises(CommandError, match="No partner named or numbered 'nobody'"):
        call_command("erase_user", "nobody", "alice")
    with pytest.raises(CommandError, match="user_id"):
        call_command("erase_user", str(tenant.partner.pk), "x" * 129)
    assert not CouponEvent.objects.filter(action=EventAction.USER_ERASED).exists()
