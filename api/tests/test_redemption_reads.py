"""Reading redemptions: one by id, and a coupon's, oldest first."""

from __future__ import annotations

import uuid

from api.tests.conftest import assert_problem, post
from coupons.services import coupon_assign_random
from couponsite.actors import Actor
from redemptions.services import coupon_redeem, redemption_rollback

SETUP = Actor.system("test")
FIELDS = {"id", "code", "book_id", "user_id", "created_at", "metadata", "rolled_back_at", "rollback_reason"}


def gift_card(tenant, uses: int) -> str:
    tenant.book.max_redemptions_per_coupon = uses
    tenant.book.save(update_fields=["max_redemptions_per_coupon"])
    return coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id="u1", actor=SETUP).code


def redeem(tenant, code: str, metadata: dict):
    _, redemption = coupon_redeem(partner=tenant.partner, code=code, user_id="u1", metadata=metadata, actor=SETUP)
    return redemption


def test_a_redemption_reads_with_its_coupon_and_its_rollback(tenant):
    code = gift_card(tenant, uses=2)
    redemption = redeem(tenant, code, {"order": "A-1"})
    redemption_rollback(partner=tenant.partner, redemption_id=redemption.pk, reason="order cancelled", actor=SETUP)

    response = tenant.client.get(f"/api/v1/redemptions/{redemption.pk}")

    body = response.json()
    assert response.status_code == 200
    assert set(body) == FIELDS
    assert (body["id"], body["code"], body["book_id"]) == (str(redemption.pk), code, tenant.book.pk)
    assert (body["user_id"], body["metadata"], body["rollback_reason"]) == ("u1", {"order": "A-1"}, "order cancelled")
    assert body["rolled_back_at"] is not None


def test_a_redemption_not_rolled_back_has_no_rollback(tenant):
    redemption = redeem(tenant, gift_card(tenant, uses=1), {})

    body = tenant.client.get(f"/api/v1/redemptions/{redemption.pk}").json()

    assert (body["rolled_back_at"], body["rollback_reason"]) == (None, None)


def test_another_partners_redemption_is_not_found(tenant, other):
    redemption = redeem(tenant, gift_card(tenant, uses=1), {})

    assert_problem(other.client.get(f"/api/v1/redemptions/{redemption.pk}"), 404, "not_found")
    assert_problem(tenant.client.get(f"/api/v1/redemptions/{uuid.uuid4()}"), 404, "not_found")
    assert_problem(tenant.client.get("/api/v1/redemptions/not-a-uuid"), 404, "not_found")


def test_a_coupons_redemptions_page_oldest_first_rolled_back_ones_included(tenant):
    code = gift_card(tenant, uses=5)
    made = [redeem(tenant, code, {"n": n}) for n in range(5)]
    redemption_rollback(partner=tenant.partner, redemption_id=made[1].pk, actor=SETUP)

    first = tenant.client.get(f"/api/v1/coupons/{code.lower()}/redemptions?page_size=3").json()
    second = tenant.client.get(first["next"]).json()

    pages = first["results"] + second["results"]
    assert [item["metadata"]["n"] for item in pages] == [0, 1, 2, 3, 4]
    assert [item["rolled_back_at"] is not None for item in pages] == [False, True, False, False, False]
    assert second["next"] is None


def test_redemptions_of_an_unknown_or_anothers_coupon_are_not_found(tenant, other):
    code = gift_card(tenant, uses=1)

    assert_problem(other.client.get(f"/api/v1/coupons/{code}/redemptions"), 404, "not_found")
    assert_problem(tenant.client.get("/api/v1/coupons/NO-SUCH/redemptions"), 404, "not_found")


def test_a_forged_cursor_is_not_found(tenant):
    code = gift_card(tenant, uses=1)
    redeem(tenant, code, {})
    # "p=abc" base64-encoded, as DRF writes its cursors.
    response = tenant.client.get(f"/api/v1/coupons/{code}/redemptions?cursor=cD1hYmM%3D")
    assert_problem(response, 404, "not_found")


def test_a_redeemed_coupons_answer_names_the_redemption_to_read(tenant):
    code = gift_card(tenant, uses=1)
    redeemed = post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "u1"}).json()

    read = tenant.client.get(f"/api/v1/redemptions/{redeemed['redemption']['id']}").json()

    assert read["code"] == code
