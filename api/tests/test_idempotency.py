"""Idempotency-Key: replay, reuse, in flight, scope, what is stored and for how long."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import IdempotencyKey, RateCounter
from api.tests.conftest import assert_problem, http, make_tenant, post
from api.tests.test_tenant_isolation import PARAMETER, ROUTES
from books.models import Book
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.services import coupon_assign_random
from couponsite.actors import Actor
from couponsite.locks import LockKind, stable_key

ASSIGN = "/api/v1/coupons/assign"


def test_a_retry_gets_the_first_answer_and_changes_nothing(tenant):
    body = {"book_id": tenant.book.pk, "user_id": "u1"}
    first = post(tenant.client, ASSIGN, body, HTTP_IDEMPOTENCY_KEY="order-1")
    again = post(tenant.client, ASSIGN, body, HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Coupon.objects.filter(book=tenant.book, state=CouponState.ASSIGNED).count() == 1
    assert CouponEvent.objects.filter(coupon__book=tenant.book).count() == 1


def test_the_same_body_written_differently_is_the_same_request(tenant):
    first = tenant.client.post(
        ASSIGN,
        f'{{"book_id": {tenant.book.pk}, "user_id": "u1"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    again = tenant.client.post(
        ASSIGN,
        f'{{"user_id":"u1","book_id":{tenant.book.pk}}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/v1/books", {"name": "Other name"}), ("/api/v1/books?x=1", {"name": "First"})],
    ids=["other body", "other path"],
)
def test_the_key_with_another_request_is_refused(tenant, path, body):
    post(tenant.client, "/api/v1/books", {"name": "First"}, HTTP_IDEMPOTENCY_KEY="k")
    response = post(tenant.client, path, body, HTTP_IDEMPOTENCY_KEY="k")
    assert_problem(response, 422, "idempotency_key_reused")
    assert Book.objects.filter(partner=tenant.partner, name="Other name").count() == 0


def test_keys_are_scoped_to_the_partner(tenant, other):
    mine = post(tenant.client, "/api/v1/books", {"name": "Same"}, HTTP_IDEMPOTENCY_KEY="shared-key")
    theirs = post(other.client, "/api/v1/books", {"name": "Same"}, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_refusal_is_replayed_too(tenant):
    for i in range(len(tenant.coupons())):
        coupon_assign_random(
            partner=tenant.book.partner, book_id=tenant.book.pk, user_id=f"user-{i}", actor=Actor.system("test")
        )
    body = {"book_id": tenant.book.pk, "user_id": "late"}
    assert_problem(post(tenant.client, ASSIGN, body, HTTP_IDEMPOTENCY_KEY="k"), 409, "book_exhausted")
    Coupon.objects.create(book=tenant.book, partner=tenant.partner, code="FRESH-1", sort_key=1)

    again = post(tenant.client, ASSIGN, body, HTTP_IDEMPOTENCY_KEY="k")
    assert_problem(again, 409, "book_exhausted")
    assert again["Idempotent-Replayed"] == "true"
    assert Coupon.objects.get(code="FRESH-1").state == CouponState.AVAILABLE


@pytest.mark.urls("api.tests.crash_urls")
def test_a_server_error_is_not_stored_and_its_effect_is_undone(tenant):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.key}")
    for _ in range(2):  # the retry runs again: nothing was stored
        response = post(client, "/api/v1/crash-after-effect", {}, HTTP_IDEMPOTENCY_KEY="k")
        assert_problem(response, 500, "server_error")
        assert "Idempotent-Replayed" not in response
    assert not Book.objects.filter(name="half-done").exists()
    assert not IdempotencyKey.objects.exists()


def test_a_key_older_than_24_hours_is_forgotten(tenant):
    post(tenant.client, "/api/v1/books", {"name": "Yesterday"}, HTTP_IDEMPOTENCY_KEY="k")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    response = post(tenant.client, "/api/v1/books", {"name": "Today"}, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert IdempotencyKey.objects.get().fingerprint  # one row, rewritten


def test_purge_deletes_keys_older_than_24_hours(tenant):
    post(tenant.client, "/api/v1/books", {"name": "A"}, HTTP_IDEMPOTENCY_KEY="old")
    post(tenant.client, "/api/v1/books", {"name": "B"}, HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    out = io.StringIO()

    call_command("purge_idempotency_keys", stdout=out)

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert out.getvalue().startswith("Purged 1 idempotency keys")


def test_purge_deletes_ended_rate_counters_only(tenant):
    post(tenant.client, "/api/v1/books", {"name": "A"})
    RateCounter.objects.create(key="ended", count=3, expires_at=timezone.now() - timedelta(seconds=1))
    out = io.StringIO()

    call_command("purge_rate_counters", stdout=out)

    assert not RateCounter.objects.filter(key="ended").exists()
    assert RateCounter.objects.exists()  # the window of the request above is still running
    assert out.getvalue().startswith("Purged 1 expired rate counters")


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"], ids=["empty", "too long", "not ascii"])
def test_an_invalid_key_is_a_validation_error(tenant, key):
    response = post(tenant.client, "/api/v1/books", {"name": "A"}, HTTP_IDEMPOTENCY_KEY=key)
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "Idempotency-Key"


POSTS = [route for route in ROUTES if "POST" in route.methods]


@pytest.mark.parametrize("route", POSTS, ids=[r.path for r in POSTS])
def test_every_post_route_honours_the_key(tenant, route):
    values = {"book_id": str(tenant.book.pk), "code": tenant.coupons()[0].code, "user_id": "u1"}
    values["redemption_id"] = "00000000-0000-4000-8000-000000000000"
    values["webhook_id"] = "00000000-0000-4000-8000-000000000000"
    path = PARAMETER.sub(lambda m: values[m["name"]], route.path)
    first = post(tenant.client, path, {"user_id": "u1"}, HTTP_IDEMPOTENCY_KEY="k")
    again = post(tenant.client, path, {"user_id": "u1"}, HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"


def _waiting_for_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_runs_is_in_flight_then_replayed(live_server):
    tenant = make_tenant()
    code = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u1", actor=Actor.system("test")
    ).code
    coupon_id = Coupon.objects.get(code=code).pk
    url = f"{live_server.url}/api/v1/coupons/lock/{code}"
    headers = {"Idempotency-Key": "checkout-7"}
    first = {}

    # A checkout elsewhere holds the coupon: the first request waits inside
    # its transaction, holding the key.
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [stable_key(LockKind.COUPON, coupon_id)])
        runner = threading.Thread(
            target=lambda: first.update(
                answer=http("POST", url, key=tenant.key, body={"user_id": "u1"}, headers=headers)
            )
        )
        runner.start()
        deadline = time.monotonic() + 30
        while not _waiting_for_advisory_lock() and time.monotonic() < deadline:
            time.sleep(0.02)
        during = http("POST", url, key=tenant.key, body={"user_id": "u1"}, headers=headers)
        cursor.execute("ROLLBACK")
    runner.join(timeout=60)
    after = http("POST", url, key=tenant.key, body={"user_id": "u1"}, headers=headers)

    assert during.status == 409
    assert during.json()["code"] == "idempotency_key_in_flight"
    assert first["answer"].status == 200
    assert after.status == 200
    assert after.headers["Idempotent-Replayed"] == "true"
    assert after.body == first["answer"].body
    assert CouponEvent.objects.filter(coupon_id=coupon_id, action="lock").count() == 1


def patch(client, path: str, data: dict, **headers):
    return client.patch(path, data, format="json", **headers)


def test_a_patch_retried_with_its_key_is_replayed_and_undoes_no_later_change(tenant):
    path = f"/api/v1/books/{tenant.book.pk}"
    first = patch(tenant.client, path, {"is_active": False}, HTTP_IDEMPOTENCY_KEY="deactivate")
    assert patch(tenant.client, path, {"is_active": True}).status_code == 200  # someone turns it back on

    retry = patch(tenant.client, path, {"is_active": False}, HTTP_IDEMPOTENCY_KEY="deactivate")

    assert (retry.status_code, retry.content, retry["Idempotent-Replayed"]) == (200, first.content, "true")
    assert Book.objects.get(pk=tenant.book.pk).is_active is True


def test_a_key_first_used_on_a_post_is_reused_on_a_patch(tenant):
    assert post(tenant.client, "/api/v1/books", {"name": "A"}, HTTP_IDEMPOTENCY_KEY="k").status_code == 201

    response = patch(tenant.client, f"/api/v1/books/{tenant.book.pk}", {"name": "B"}, HTTP_IDEMPOTENCY_KEY="k")

    assert_problem(response, 422, "idempotency_key_reused")
    assert Book.objects.get(pk=tenant.book.pk).name != "B"


def test_a_refused_body_is_replayed_and_a_corrected_body_needs_a_new_key(tenant):
    invalid = post(tenant.client, "/api/v1/books", {"name": ""}, HTTP_IDEMPOTENCY_KEY="k")
    replayed = post(tenant.client, "/api/v1/books", {"name": ""}, HTTP_IDEMPOTENCY_KEY="k")
    corrected = post(tenant.client, "/api/v1/books", {"name": "Fixed"}, HTTP_IDEMPOTENCY_KEY="k")

    assert_problem(invalid, 400, "validation_error")
    assert (replayed.content, replayed["Idempotent-Replayed"]) == (invalid.content, "true")
    assert_problem(corrected, 422, "idempotency_key_reused")
    assert post(tenant.client, "/api/v1/books", {"name": "Fixed"}, HTTP_IDEMPOTENCY_KEY="k2").status_code == 201
