import pytest
from django.contrib.messages import get_messages

from books.tests.factories import BookFactory
from coupons.admin.coupon_pages import actions_for
from coupons.models import Coupon
from coupons.services import coupon_assign_code, coupon_lock, coupon_void
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from redemptions.services import coupon_redeem

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:coupons_coupon_changelist"
SYSTEM = Actor.system("test")


def listed_codes(response) -> list[str]:
    return sorted(coupon.code for coupon in response.context["cl"].result_list)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_page_actions_follow_the_state_machine():
    available, assigned, locked, redeemed, voided = make_coupons(BookFactory(), 5)
    partner = available.partner
    for coupon in (assigned, locked, redeemed):
        coupon_assign_code(partner=partner, code=coupon.code, user_id="u1", actor=SYSTEM)
    coupon_lock(partner=partner, code=locked.code, user_id="u1", actor=SYSTEM)
    coupon_redeem(partner=partner, code=redeemed.code, user_id="u1", actor=SYSTEM)
    coupon_void(coupon=voided, actor=SYSTEM)

    stored = Coupon.objects.filter(pk__in=[c.pk for c in (available, assigned, locked, redeemed, voided)])
    offered = {coupon.state: [name for name, _ in actions_for(coupon)] for coupon in stored}

    assert offered == {
        "available": ["void"],
        "assigned": ["void"],
        "locked": ["void", "release_lock"],
        "redeemed": [],
        "void": [],
    }
