"""Every error code of DESIGN.md's table, and DRF's and Django's own errors, as
problem+json with the right status: one test each."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from api.tests.conftest import assert_problem, post
from books.services import api_key_revoke
from coupons.services import coupon_assign_random, coupon_lock, coupon_void
from couponsite.actors import Actor
from couponsite.locks import LockKind, stable_key
from redemptions.services import coupon_redeem

ACTOR = Actor.api_key("setup")


def assigned_code(tenant, user_id: str = "u1") -> str:
    return coupon_assign_random(partner=tenant.book.partner, book_id=tenant.book.pk, user_id=user_id, actor=ACTOR).code


def test_validation_error_names_the_field(tenant):
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": ""})
    body = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["user_id"]


def test_not_authenticated_without_a_key(tenant):
    response = APIClient().get("/api/v1/books")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("header", ["Api-Key nope.nope", "Bearer abc", "Api-Key", "Api-Key a.b.c"])
def test_not_authenticated_with_an_invalid_key(tenant, header):
    response = APIClient().get("/api/v1/books", HTTP_AUTHORIZATION=header)
    assert_problem(response, 401, "not_authenticated")


def test_not_authenticated_with_a_known_prefix_and_a_wrong_secret(tenant):
    forged = f"{tenant.api_key.prefix}.{'x' * 32}"
    response = APIClient().get("/api/v1/books", HTTP_AUTHORIZATION=f"Api-Key {forged}")
    assert_problem(response, 401, "not_authenticated")


def test_permission_denied_for_a_revoked_key(tenant):
    api_key_revoke(prefix=tenant.api_key.prefix)
    assert_problem(tenant.client.get("/api/v1/books"), 403, "permission_denied")


def test_permission_denied_for_an_expired_key(tenant):
    tenant.api_key.expiry_date = timezone.now() - timedelta(seconds=1)
    tenant.api_key.save()
    assert_problem(tenant.client.get("/api/v1/books"), 403, "permission_denied")


def test_permission_denied_for_an_inactive_partner(tenant):
    tenant.partner.is_active = False
    tenant.partner.save()
    assert_problem(tenant.client.get("/api/v1/books"), 403, "permission_denied")


def test_not_found_for_an_unknown_book(tenant):
    assert_problem(tenant.client.get("/api/v1/books/999999"), 404, "not_found")


def test_book_inactive(tenant):
    tenant.book.is_active = False
    tenant.book.save()
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "u1"})
    assert_problem(response, 409, "book_inactive")


def test_book_inactive_outside_its_window(tenant):
    tenant.book.valid_until = timezone.now() - timedelta(days=1)
    tenant.book.valid_from = timezone.now() - timedelta(days=2)
    tenant.book.save()
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "u1"})
    assert_problem(response, 409, "book_inactive")


def test_book_exhausted(tenant):
    for i in range(len(tenant.coupons())):
        assigned_code(tenant, f"user-{i}")
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "late"})
    assert_problem(response, 409, "book_exhausted")


def test_assignment_limit_reached(tenant):
    tenant.book.max_codes_per_user = 1
    tenant.book.save()
    assigned_code(tenant)
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "u1"})
    assert_problem(response, 409, "assignment_limit_reached")


def test_coupon_unavailable(tenant):
    code = assigned_code(tenant)
    response = post(tenant.client, f"/api/v1/coupons/assign/{code}", {"user_id": "u2"})
    assert_problem(response, 409, "coupon_unavailable")


def test_coupon_not_held(tenant):
    code = assigned_code(tenant)
    response = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": "someone-else"})
    assert_problem(response, 409, "coupon_not_held")


def test_coupon_locked(tenant):
    code = assigned_code(tenant)
    coupon_lock(partner=tenant.partner, code=code, user_id="u1", actor=ACTOR)
    response = post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "u1", "lock_id": str(uuid.uuid4())})
    assert_problem(response, 409, "coupon_locked")


def test_coupon_not_locked(tenant):
    code = assigned_code(tenant)
    response = post(tenant.client, f"/api/v1/coupons/unlock/{code}", {"user_id": "u1", "lock_id": str(uuid.uuid4())})
    assert_problem(response, 409, "coupon_not_locked")


def test_coupon_redeemed(tenant):
    code = assigned_code(tenant)
    coupon_redeem(partner=tenant.partner, code=code, user_id="u1", actor=ACTOR)
    response = post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "u1"})
    assert_problem(response, 409, "coupon_redeemed")


def test_coupon_void(tenant):
    code = assigned_code(tenant)
    coupon = tenant.book.coupons.get(code=code)
    coupon_void(coupon=coupon, actor=Actor.staff(1))
    response = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": "u1"})
    assert_problem(response, 409, "coupon_void")


def test_redemption_rolled_back(tenant):
    code = assigned_code(tenant)
    _, redemption = coupon_redeem(partner=tenant.partner, code=code, user_id="u1", actor=ACTOR)
    path = f"/api/v1/redemptions/{redemption.pk}/rollback"
    assert post(tenant.client, path).status_code == 200
    assert_problem(post(tenant.client, path), 409, "redemption_rolled_back")


def test_idempotency_key_reused(tenant):
    post(tenant.client, "/api/v1/books", {"name": "A"}, HTTP_IDEMPOTENCY_KEY="k")
    response = post(tenant.client, "/api/v1/books", {"name": "B"}, HTTP_IDEMPOTENCY_KEY="k")
    assert_problem(response, 422, "idempotency_key_reused")


def test_idempotency_key_in_flight(tenant):
    # Another session is processing the key: it holds the key's advisory lock.
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=False) as other_session:
        other_session.execute(
            "SELECT pg_advisory_xact_lock(%s)", [stable_key(LockKind.IDEMPOTENCY_KEY, tenant.partner.pk, "k")]
        )
        response = post(tenant.client, "/api/v1/books", {"name": "A"}, HTTP_IDEMPOTENCY_KEY="k")
        other_session.rollback()
    assert_problem(response, 409, "idempotency_key_in_flight")


@override_settings(API_RATE="3/min")
def test_throttled_past_the_key_rate(tenant):
    for _ in range(3):
        assert tenant.client.get("/api/v1/books").status_code == 200
    response = tenant.client.get("/api/v1/books")
    assert_problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


# DRF's own errors.


def test_parse_error_is_a_validation_error(tenant):
    response = tenant.client.post("/api/v1/books", "{not json", content_type="application/json")
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "body"


def test_method_not_allowed(tenant):
    response = tenant.client.delete("/api/v1/books")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_not_acceptable(tenant):
    assert_problem(tenant.client.get("/api/v1/books", HTTP_ACCEPT="text/html"), 406, "not_acceptable")


def test_unsupported_media_type(tenant):
    response = tenant.client.post("/api/v1/books", "name=A", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415, "unsupported_media_type")


def test_invalid_page_is_not_found(tenant):
    assert_problem(tenant.client.get("/api/v1/books?page=99"), 404, "not_found")


def test_forged_cursor_is_not_found_not_a_server_error(tenant):
    import base64

    cursor = base64.b64encode(b"p=abc").decode()
    response = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/coupons?cursor={cursor}")
    assert_problem(response, 404, "not_found")


# Django's own errors under /api/: never HTML, DEBUG on or off.


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_path_is_problem_json(tenant, debug, settings):
    settings.DEBUG = debug
    response = tenant.client.get("/api/v1/no/such/thing")
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.urls("api.tests.crash_urls")
def test_server_error_is_problem_json(db, debug, settings):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/v1/crash")
    assert_problem(response, 500, "server_error")
    assert b"a bug" not in response.content


def test_pages_outside_the_api_are_left_alone(db):
    response = Client().get("/no/such/page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_problem_types_are_documented_at_their_uri(db):
    response = Client().get("/api/problems/coupon_locked")
    assert response.status_code == 200
    assert response.json()["status"] == 409
