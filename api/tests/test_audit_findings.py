"""The findings of the outside security and fault audit, one test each. They
speak HTTP only, so that each can be run against the code the audit probed,
where it failed."""

import pytest

from api.tests.conftest import assert_problem, post
from coupons.models import Coupon

LOCK_ID = "0b9f3c52-6f0e-4c8e-9a57-2f1f0c6f8e11"


def assigned_code(tenant, user_id: str) -> str:
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": user_id})
    assert response.status_code == 201, response.content
    return response.json()["code"]


@pytest.mark.parametrize("user_id", [969401, True, {"id": 1}, 1.5], ids=["number", "boolean", "object", "float"])
@pytest.mark.parametrize("action", ["assign", "redeem", "lock", "unlock"])
def test_h1_a_user_id_that_is_not_a_string_is_refused_before_any_counting(tenant, user_id, action):
    for i in range(12):
        response = post(tenant.client, f"/api/v1/coupons/{action}/GUESS-{i}", {"user_id": user_id, "lock_id": LOCK_ID})
        assert_problem(response, 400, "validation_error")

    # Nothing was counted against the user the value would have become.
    response = post(tenant.client, f"/api/v1/coupons/{action}/GUESS-X", {"user_id": str(user_id), "lock_id": LOCK_ID})
    assert_problem(response, 404, "not_found")


def test_h1_a_number_never_becomes_a_user(tenant):
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": 969401})

    assert_problem(response, 400, "validation_error")
    assert not Coupon.objects.filter(user_id="969401").exists()


def test_m1_a_number_too_large_for_a_float_is_invalid_input(tenant):
    code = assigned_code(tenant, "u")
    body = '{"user_id": "u", "metadata": {"amount": 1e400}}'

    response = tenant.client.post(f"/api/v1/coupons/redeem/{code}", body, content_type="application/json")

    assert_problem(response, 400, "validation_error")
    assert Coupon.objects.get(code=code).redemption_count == 0


@pytest.mark.parametrize("action", ["assign", "lock", "unlock", "redeem"])
def test_m1_a_lone_surrogate_in_a_user_id_is_invalid_input_and_counts_nothing(tenant, action):
    body = '{"user_id": "\\ud800", "lock_id": "%s"}' % LOCK_ID  # noqa: UP031 - JSON with an escape Python keeps
    for _ in range(12):
        response = tenant.client.post(f"/api/v1/coupons/{action}/GUESS", body, content_type="application/json")
        assert_problem(response, 400, "validation_error")


def test_l9_api_answers_may_not_be_stored_by_a_cache(tenant):
    answers = [
        tenant.client.get("/api/v1/me"),
        tenant.client.get("/api/v1/coupons/NO-SUCH-CODE"),
        tenant.client.get("/api/v1/no-such-endpoint"),
    ]

    assert [answer["Cache-Control"] for answer in answers] == ["no-store"] * 3


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/redoc/"])
def test_l9_browser_pages_carry_a_content_security_policy(client, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy


def test_l9_api_answers_need_no_content_security_policy(tenant):
    assert "Content-Security-Policy" not in tenant.client.get("/api/v1/me")
