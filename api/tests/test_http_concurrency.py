"""Races through real HTTP: threads against a live server on real PostgreSQL."""

from __future__ import annotations

import pytest
from django.test import override_settings

from api.tests.conftest import http, make_tenant
from coupons.models import Coupon
from coupons.services import coupon_assign_random
from couponsite.actors import Actor
from couponsite.tests.racing import race
from redemptions.models import Redemption

pytestmark = [pytest.mark.races, pytest.mark.django_db(transaction=True)]


def test_no_coupon_is_assigned_twice(live_server):
    tenant = make_tenant()  # five coupons
    url = f"{live_server.url}/api/v1/coupons/assign"

    answers = race(
        lambda i: http("POST", url, key=tenant.key, body={"book_id": tenant.book.pk, "user_id": f"user-{i}"}),
        times=16,
    )

    assigned = [a.json()["code"] for a in answers if a.status == 201]
    refused = [a.json()["code"] for a in answers if a.status == 409]
    assert len(assigned) == len(set(assigned)) == 5
    assert refused == ["book_exhausted"] * 11
    assert Coupon.objects.filter(book=tenant.book, user_id__isnull=False).count() == 5


def test_one_user_gets_no_more_than_the_limit(live_server):
    tenant = make_tenant(max_codes_per_user=2)
    url = f"{live_server.url}/api/v1/coupons/assign"

    answers = race(
        lambda i: http("POST", url, key=tenant.key, body={"book_id": tenant.book.pk, "user_id": "u"}), times=10
    )

    assert sorted(a.status for a in answers) == [201] * 2 + [409] * 8
    assert Coupon.objects.filter(book=tenant.book, user_id="u").count() == 2


# One user's look-ups in flight at once count against the failed-lookup limit
# until they succeed (api/throttles.py); this race is one user, twelve at once.
@override_settings(FAILED_LOOKUP_LIMIT="100/min")
def test_a_multi_use_coupon_is_redeemed_exactly_its_limit(live_server):
    tenant = make_tenant(max_redemptions_per_coupon=3)
    code = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u", actor=Actor.system("test")
    ).code
    url = f"{live_server.url}/api/v1/coupons/redeem/{code}"

    answers = race(lambda i: http("POST", url, key=tenant.key, body={"user_id": "u", "metadata": {"i": i}}), times=12)

    assert sorted(a.status for a in answers) == [200] * 3 + [409] * 9
    assert {a.json()["code"] for a in answers if a.status == 409} == {"coupon_redeemed"}
    assert Coupon.objects.get(code=code).redemption_count == 3
    assert Redemption.objects.filter(coupon__code=code).count() == 3
