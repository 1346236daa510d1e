"""The coupon, user and redemption endpoints, one test each (and a whole checkout)."""

from __future__ import annotations

from api.tests.conftest import assert_problem, post
from coupons.models import Coupon, CouponEvent
from coupons.services import coupon_assign_random, coupon_lock
from couponsite.actors import Actor
from redemptions.models import Redemption
from redemptions.services import coupon_redeem

COUPON_FIELDS = {
    "code",
    "book_id",
    "state",
    "user_id",
    "assigned_at",
    "locked_until",
    "redemption_count",
    "redemptions_remaining",
    "metadata",
}
SETUP = Actor.system("test")


def assign(tenant, user_id: str = "u1") -> str:
    return coupon_assign_random(partner=tenant.book.partner, book_id=tenant.book.pk, user_id=user_id, actor=SETUP).code


def test_assign_a_random_coupon(tenant):
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "u1"})
    assert response.status_code == 201
    coupon = response.json()
    assert set(coupon) == COUPON_FIELDS
    assert coupon["state"] == "assigned"
    assert coupon["user_id"] == "u1"
    assert coupon["redemptions_remaining"] == 1
    event = CouponEvent.objects.get(coupon__code=coupon["code"])
    assert (event.actor_kind, event.actor_id) == ("api_key", tenant.api_key.prefix)


def test_assign_a_specific_coupon(tenant):
    code = tenant.coupons()[2].code
    response = post(tenant.client, f"/api/v1/coupons/assign/{code}", {"user_id": "u1"})
    assert response.status_code == 201
    assert response.json()["code"] == code
    assert response.json()["state"] == "assigned"


def test_get_a_coupon_by_code_in_any_case(tenant):
    code = assign(tenant)
    response = tenant.client.get(f"/api/v1/coupons/{code.lower()}")
    assert response.status_code == 200
    assert response.json()["code"] == code
    assert set(response.json()) == COUPON_FIELDS


def test_history_is_oldest_first(tenant):
    code = assign(tenant)
    coupon_lock(partner=tenant.partner, code=code, user_id="u1", actor=SETUP)
    response = tenant.client.get(f"/api/v1/coupons/{code}/history")
    assert response.status_code == 200
    events = response.json()["results"]
    assert [e["action"] for e in events] == ["assign", "lock"]
    assert events[0]["actor_kind"] == "system"
    assert events[0]["actor_id"] is None  # only API key prefixes are shown


def test_lock_returns_the_lock_id_and_expiry(tenant):
    code = assign(tenant)
    response = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": "u1"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == COUPON_FIELDS | {"lock_id"}
    assert body["state"] == "locked"
    assert body["locked_until"]
    assert str(Coupon.objects.get(code=code).lock_id) == body["lock_id"]


def test_unlock_with_the_lock_id(tenant):
    code = assign(tenant)
    lock_id = coupon_lock(partner=tenant.partner, code=code, user_id="u1", actor=SETUP).lock_id
    response = post(tenant.client, f"/api/v1/coupons/unlock/{code}", {"user_id": "u1", "lock_id": str(lock_id)})
    assert response.status_code == 200
    assert response.json()["state"] == "assigned"
    assert response.json()["locked_until"] is None


def test_redeem_returns_the_redemption(tenant):
    code = assign(tenant)
    lock_id = coupon_lock(partner=tenant.partner, code=code, user_id="u1", actor=SETUP).lock_id
    body = {"user_id": "u1", "lock_id": str(lock_id), "metadata": {"order_id": "A-1"}}
    response = post(tenant.client, f"/api/v1/coupons/redeem/{code}", body)
    assert response.status_code == 200
    coupon = response.json()
    assert coupon["state"] == "redeemed"
    assert coupon["redemptions_remaining"] == 0
    assert set(coupon["redemption"]) == {"id", "created_at", "metadata"}
    assert coupon["redemption"]["metadata"] == {"order_id": "A-1"}
    assert Redemption.objects.get(pk=coupon["redemption"]["id"]).metadata == {"order_id": "A-1"}


def test_redeem_an_unlocked_coupon_in_one_step(tenant):
    code = assign(tenant)
    response = post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "u1"})
    assert response.status_code == 200
    assert response.json()["redemption_count"] == 1


def test_rollback_gives_the_use_back(tenant):
    code = assign(tenant)
    _, redemption = coupon_redeem(partner=tenant.partner, code=code, user_id="u1", actor=SETUP)
    response = post(tenant.client, f"/api/v1/redemptions/{redemption.pk}/rollback", {"reason": "order cancelled"})
    assert response.status_code == 200
    assert response.json()["state"] == "assigned"
    assert response.json()["redemptions_remaining"] == 1
    redemption.refresh_from_db()
    assert redemption.rollback_reason == "order cancelled"


def test_a_users_coupons_filtered_by_book_and_state(tenant):
    first, second = assign(tenant), assign(tenant)
    coupon_lock(partner=tenant.partner, code=second, user_id="u1", actor=SETUP)
    assign(tenant, user_id="someone-else")

    everything = tenant.client.get("/api/v1/users/u1/coupons").json()["results"]
    locked = tenant.client.get(f"/api/v1/users/u1/coupons?state=locked&book_id={tenant.book.pk}").json()["results"]
    elsewhere = tenant.client.get("/api/v1/users/u1/coupons?book_id=999999").json()["results"]

    assert [c["code"] for c in everything] == sorted([first, second], key=lambda c: Coupon.objects.get(code=c).pk)
    assert [c["code"] for c in locked] == [second]
    assert elsewhere == []


def test_a_user_id_with_a_slash_has_its_coupons_listed(tenant):
    code = assign(tenant, user_id="tenant/42")
    response = tenant.client.get("/api/v1/users/tenant/42/coupons")
    assert [c["code"] for c in response.json()["results"]] == [code]


def test_a_checkout_from_book_to_redemption(tenant):
    book = post(tenant.client, "/api/v1/books", {"name": "Tour", "max_codes_per_user": 1}).json()
    post(tenant.client, f"/api/v1/books/{book['id']}/codes/generate", {"count": 10})
    coupon = post(tenant.client, "/api/v1/coupons/assign", {"book_id": book["id"], "user_id": "c-42"}).json()
    locked = post(tenant.client, f"/api/v1/coupons/lock/{coupon['code']}", {"user_id": "c-42"}).json()
    body = {"user_id": "c-42", "lock_id": locked["lock_id"]}
    redeemed = post(tenant.client, f"/api/v1/coupons/redeem/{coupon['code']}", body).json()
    assert redeemed["state"] == "redeemed"
    again = post(tenant.client, "/api/v1/coupons/assign", {"book_id": book["id"], "user_id": "c-42"})
    assert_problem(again, 409, "assignment_limit_reached")
