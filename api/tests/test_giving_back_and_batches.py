"""POST /coupons/unassign/{code}, assignment_ttl_seconds and POST /books/{book_id}/coupons/assign over HTTP."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from api.tests.conftest import assert_problem, make_tenant, post
from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponState
from coupons.tests.factories import make_coupons
from couponsite.bounds import ASSIGNMENT_TTL_SECONDS_MAX

pytestmark = pytest.mark.django_db


def assigned_code(tenant, user_id: str = "alice") -> str:
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": user_id})
    assert response.status_code == 201, response.content
    return response.json()["code"]


def test_unassign_answers_the_coupon_back_in_the_pool_and_history_says_so(tenant):
    code = assigned_code(tenant)

    response = post(tenant.client, f"/api/v1/coupons/unassign/{code.lower()}", {"user_id": "alice"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["code"], body["state"], body["user_id"], body["assigned_at"]) == (code, "available", None, None)
    history = tenant.client.get(f"/api/v1/coupons/{code}/history").json()["results"]
    assert [e["action"] for e in history] == ["assign", "unassign"]
    assert history[-1]["user_id"] == "alice"


def test_unassign_refusals_are_problems(tenant):
    book = BookFactory(partner=tenant.partner, max_redemptions_per_coupon=2)
    make_coupons(book, 2, prefix="U")
    used = post(tenant.client, "/api/v1/coupons/assign", {"book_id": book.pk, "user_id": "alice"}).json()["code"]
    post(tenant.client, f"/api/v1/coupons/redeem/{used}", {"user_id": "alice"})
    locked = assigned_code(tenant)
    post(tenant.client, f"/api/v1/coupons/lock/{locked}", {"user_id": "alice"})

    assert_problem(post(tenant.client, f"/api/v1/coupons/unassign/{used}", {"user_id": "alice"}), 409, "coupon_in_use")
    assert_problem(
        post(tenant.client, f"/api/v1/coupons/unassign/{locked}", {"user_id": "alice"}), 409, "coupon_locked"
    )
    assert_problem(
        post(tenant.client, f"/api/v1/coupons/unassign/{locked}", {"user_id": "bob"}), 409, "coupon_not_held"
    )
    assert_problem(post(tenant.client, "/api/v1/coupons/unassign/NOPE", {"user_id": "bob"}), 404, "not_found")


@override_settings(FAILED_LOOKUP_LIMIT="3/min")
def test_unassign_of_coupons_a_user_does_not_hold_counts_as_failed_look_ups(tenant):
    codes = [assigned_code(tenant, user_id=f"holder-{i}") for i in range(4)]
    for code in codes[:3]:
        response = post(tenant.client, f"/api/v1/coupons/unassign/{code}", {"user_id": "prober"})
        assert_problem(response, 409, "coupon_not_held")

    response = post(tenant.client, f"/api/v1/coupons/unassign/{codes[3]}", {"user_id": "prober"})

    assert_problem(response, 429, "throttled")
    assert Coupon.objects.get(code=codes[3]).user_id == "holder-3"


def test_a_coupon_coded_unassign_is_read_and_its_history_in_another_case(tenant):
    Coupon.objects.create(book=tenant.book, partner=tenant.partner, code="unassign", sort_key=1)

    assert tenant.client.get("/api/v1/coupons/unassign").json()["code"] == "unassign"
    assert_problem(tenant.client.get("/api/v1/coupons/unassign/history"), 405, "method_not_allowed")
    assert tenant.client.get("/api/v1/coupons/UNASSIGN/history").status_code == 200


def test_a_books_ttl_is_set_returned_and_bounded(tenant):
    created = post(tenant.client, "/api/v1/books", {"name": "Expiring", "assignment_ttl_seconds": 86400})
    assert created.status_code == 201
    assert created.json()["assignment_ttl_seconds"] == 86400
    book_id = created.json()["id"]

    too_long = tenant.client.patch(
        f"/api/v1/books/{book_id}", {"assignment_ttl_seconds": ASSIGNMENT_TTL_SECONDS_MAX + 1}, format="json"
    )
    assert_problem(too_long, 400, "validation_error")
    cleared = tenant.client.patch(f"/api/v1/books/{book_id}", {"assignment_ttl_seconds": None}, format="json")
    assert cleared.json()["assignment_ttl_seconds"] is None


def test_an_expired_assignment_reads_available_at_once():
    tenant = make_tenant(assignment_ttl_seconds=600)
    code = assigned_code(tenant)
    Coupon.objects.filter(code=code).update(assigned_at=timezone.now() - timedelta(seconds=601))

    coupon = tenant.client.get(f"/api/v1/coupons/{code}").json()
    counts = tenant.client.get(f"/api/v1/books/{tenant.book.pk}").json()["counts"]
    mine = tenant.client.get("/api/v1/users/alice/coupons").json()["results"]

    assert (coupon["state"], coupon["user_id"], coupon["assigned_at"]) == ("available", None, None)
    assert counts["available"] == 5
    assert counts["assigned"] == 0
    assert mine == []


def test_batch_assign_answers_per_user_results_in_request_order(tenant):
    tenant.book.max_codes_per_user = 1
    tenant.book.save()
    assigned_code(tenant, user_id="holder")
    users = ["u3", "holder", "u1", "u2", "u4", "u5"]

    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/coupons/assign", {"user_ids": users})

    assert response.status_code == 201, response.content
    results = response.json()["results"]
    assert [r["user_id"] for r in results] == users
    assert [("coupon" in r, "error" in r) for r in results] == [(True, False)] + [(False, True)] + [
        (True, False)
    ] * 3 + [(False, True)]
    assert results[1]["error"]["code"] == "assignment_limit_reached"
    assert results[5]["error"] == {
        "code": "book_exhausted",
        "detail": f"Book {tenant.book.pk} has no available coupon left",
    }
    assert results[0]["coupon"]["user_id"] == "u3"
    assert results[0]["coupon"]["state"] == "assigned"
    assert Coupon.objects.filter(book=tenant.book, state=CouponState.ASSIGNED).count() == 5


def test_batch_assign_is_idempotent(tenant):
    path = f"/api/v1/books/{tenant.book.pk}/coupons/assign"
    first = post(tenant.client, path, {"user_ids": ["a", "b"]}, HTTP_IDEMPOTENCY_KEY="batch-1")
    again = post(tenant.client, path, {"user_ids": ["a", "b"]}, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Coupon.objects.filter(book=tenant.book, state=CouponState.ASSIGNED).count() == 2


def test_batch_assign_whole_book_refusals_and_invalid_lists(tenant, other):
    path = f"/api/v1/books/{tenant.book.pk}/coupons/assign"
    assert_problem(post(other.client, path, {"user_ids": ["a"]}), 404, "not_found")
    body = assert_problem(post(tenant.client, path, {"user_ids": ["a", "b", "a"]}), 400, "validation_error")
    assert body["errors"][0]["field"] == "user_ids.2"
    assert_problem(post(tenant.client, path, {"user_ids": []}), 400, "validation_error")
    assert_problem(post(tenant.client, path, {"user_ids": ["a", 7]}), 400, "validation_error")

    tenant.book.is_active = False
    tenant.book.save()
    assert_problem(post(tenant.client, path, {"user_ids": ["a"]}), 409, "book_inactive")
    assert not Coupon.objects.filter(state=CouponState.ASSIGNED).exists()
