"""The book endpoints, one test each, plus pagination, filters and uploads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.tests.conftest import assert_problem, post
from books.models import Book
from coupons.models import Coupon, CouponState
from coupons.services import coupon_assign_random, coupon_lock
from couponsite.actors import Actor

BOOK_FIELDS = {
    "id",
    "name",
    "description",
    "max_codes_per_user",
    "max_redemptions_per_coupon",
    "assignment_ttl_seconds",
    "valid_from",
    "valid_until",
    "code_pattern",
    "charset",
    "is_active",
    "created_at",
    "metadata",
}


def test_create_a_book(tenant):
    body = {"name": "Spring", "max_codes_per_user": 2, "max_redemptions_per_coupon": None}
    response = post(tenant.client, "/api/v1/books", body)
    assert response.status_code == 201
    book = response.json()
    assert set(book) == BOOK_FIELDS
    assert book["max_codes_per_user"] == 2
    assert book["max_redemptions_per_coupon"] is None
    assert Book.objects.get(pk=book["id"]).partner == tenant.partner


def test_list_books_pages_the_partners_own_newest_first(tenant, other):
    newer = post(tenant.client, "/api/v1/books", {"name": "Newer"}).json()
    response = tenant.client.get("/api/v1/books?page_size=1")
    page = response.json()
    assert response.status_code == 200
    assert page["count"] == 2
    assert [b["id"] for b in page["results"]] == [newer["id"]]
    assert page["next"].endswith("page=2&page_size=1")


def test_list_books_by_a_part_of_their_name_in_any_case_and_by_active_state(tenant, other):
    spring = post(tenant.client, "/api/v1/books", {"name": "Spring sale"}).json()["id"]
    old_spring = post(tenant.client, "/api/v1/books", {"name": "Last SPRING", "is_active": False}).json()["id"]
    post(other.client, "/api/v1/books", {"name": "Their spring"})

    def ids(query: str) -> list[int]:
        response = tenant.client.get(f"/api/v1/books?{query}")
        assert response.status_code == 200, response.content
        return [book["id"] for book in response.json()["results"]]

    assert ids("name=spring") == [old_spring, spring]
    assert ids("name=Spring&is_active=true") == [spring]
    assert ids("is_active=false") == [old_spring]
    assert ids("name=autumn") == []
    assert tenant.book.pk in ids("name=")  # an empty filter is no filter


@pytest.mark.parametrize("query", ["is_active=yes", "is_active=1", f"name={'n' * 201}"])
def test_a_book_list_filter_out_of_its_range_is_a_validation_error(tenant, query):
    response = tenant.client.get(f"/api/v1/books?{query}")
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == query.split("=")[0]


def test_book_detail_counts_coupons_by_state(tenant):
    coupon = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u", actor=Actor.system("test")
    )
    coupon_lock(partner=tenant.partner, code=coupon.code, user_id="u", actor=Actor.system("test"))
    response = tenant.client.get(f"/api/v1/books/{tenant.book.pk}")
    assert response.status_code == 200
    assert set(response.json()) == BOOK_FIELDS | {"counts"}
    counts = response.json()["counts"]
    assert counts == {"available": 4, "assigned": 0, "locked": 1, "redeemed": 0, "void": 0, "total": 5}


def test_patch_changes_only_the_fields_given(tenant):
    response = tenant.client.patch(f"/api/v1/books/{tenant.book.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["name"] == tenant.book.name


def test_patch_refuses_a_window_that_ends_before_it_starts(tenant):
    body = {"valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}
    response = tenant.client.patch(f"/api/v1/books/{tenant.book.pk}", body, format="json")
    errors = assert_problem(response, 400, "validation_error")["errors"]
    assert errors[0]["field"] == "valid_until"


def test_generate_codes(tenant):
    response = post(
        tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/generate", {"count": 50, "pattern": "G-######"}
    )
    assert response.status_code == 201
    assert response.json() == {"created": 50}
    assert Coupon.objects.filter(book=tenant.book, code__startswith="G-").count() == 50


def test_generate_refuses_a_pattern_too_small_for_the_book(tenant):
    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/generate", {"count": 10, "pattern": "#"})
    assert assert_problem(response, 400, "validation_error")["errors"][0]["field"] == "pattern"


def test_upload_codes_as_json(tenant):
    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": ["NEW-1", "NEW-2"]})
    assert response.status_code == 201
    assert response.json() == {"created": 2}


def test_upload_a_csv_file(tenant):
    upload = SimpleUploadedFile("codes.csv", b"code\nCSV-1\nCSV-2\nCSV-3\n", content_type="text/csv")
    response = tenant.client.post(f"/api/v1/books/{tenant.book.pk}/codes/upload", {"file": upload}, format="multipart")
    assert response.status_code == 201
    assert response.json() == {"created": 3}


def test_an_upload_with_a_bad_row_stores_nothing_and_lists_the_rows(tenant):
    body = {"codes": ["OK-1", "bad code", "OK-1"]}
    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", body)
    errors = assert_problem(response, 400, "validation_error")["errors"]
    assert [e["line"] for e in errors] == [2, 3]
    assert not Coupon.objects.filter(code="OK-1").exists()


def test_book_coupons_are_cursor_paged_in_id_order(tenant):
    first = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/coupons?page_size=2").json()
    second = tenant.client.get(first["next"]).json()
    codes = [c["code"] for c in first["results"] + second["results"]]
    assert codes == [c.code for c in tenant.coupons()][:4]
    assert "sort_key" not in first["results"][0]


def test_book_coupons_filter_by_effective_state_and_user(tenant):
    coupon = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u", actor=Actor.system("test")
    )
    coupon_lock(partner=tenant.partner, code=coupon.code, user_id="u", actor=Actor.system("test"))
    Coupon.objects.filter(pk=coupon.pk).update(locked_until="2000-01-01T00:00:00Z")  # the lock ran out

    assigned = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/coupons?state=assigned").json()["results"]
    locked = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/coupons?state=locked").json()["results"]
    mine = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/coupons?user_id=u").json()["results"]

    assert [c["code"] for c in assigned] == [coupon.code]
    assert assigned[0]["state"] == CouponState.ASSIGNED
    assert assigned[0]["locked_until"] is None
    assert locked == []
    assert [c["code"] for c in mine] == [coupon.code]


def test_an_unknown_state_filter_is_a_validation_error(tenant):
    response = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/coupons?state=lost")
    assert assert_problem(response, 400, "validation_error")["errors"][0]["field"] == "state"


def test_book_stats_count_by_state_and_day(tenant, other):
    coupon_assign_random(partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u", actor=Actor.system("test"))

    response = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/stats?days=3")

    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"book_id", "counts", "days", "days_left"}
    assert body["counts"]["assigned"] == 1
    assert [set(day) for day in body["days"]] == [{"date", "assignments", "redemptions"}] * 3
    assert [day["assignments"] for day in body["days"]] == [0, 0, 1]
    assert body["days_left"] == 28.0  # 4 available, 1 assigned in 7 days
    assert len(tenant.client.get(f"/api/v1/books/{tenant.book.pk}/stats").json()["days"]) == 30
    assert_problem(other.client.get(f"/api/v1/books/{tenant.book.pk}/stats"), 404, "not_found")


@pytest.mark.parametrize("days", ["0", "367", "x", "1.5"])
def test_book_stats_days_out_of_range(tenant, days):
    response = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/stats?days={days}")
    assert assert_problem(response, 400, "validation_error")["errors"][0]["field"] == "days"


def test_a_numeric_book_for_point_of_sale_keypads(tenant):
    book = post(tenant.client, "/api/v1/books", {"name": "Till", "code_pattern": "########", "charset": "numeric"})
    assert (book.status_code, book.json()["charset"]) == (201, "numeric")

    generated = post(tenant.client, f"/api/v1/books/{book.json()['id']}/codes/generate", {"count": 100})

    assert generated.status_code == 201
    assert all(
        code.isdigit() for code in Coupon.objects.filter(book_id=book.json()["id"]).values_list("code", flat=True)
    )


def test_a_generation_may_name_another_charset(tenant):
    response = post(
        tenant.client,
        f"/api/v1/books/{tenant.book.pk}/codes/generate",
        {"count": 10, "pattern": "A-######", "charset": "alphabetic"},
    )
    assert response.status_code == 201
    new = Coupon.objects.filter(book=tenant.book, code__startswith="A-").values_list("code", flat=True)
    assert len(new) == 10 and all(code[2:].isalpha() and code[2:].isupper() for code in new)


@pytest.mark.parametrize("charset", ["hex", "ABCDEFGHIa", "0123456789!"])
def test_a_book_with_a_charset_that_is_not_one_is_refused(tenant, charset):
    response = post(tenant.client, "/api/v1/books", {"name": "Bad", "charset": charset})
    assert assert_problem(response, 400, "validation_error")["errors"][0]["field"] == "charset"
    assert not Book.objects.filter(name="Bad").exists()


def test_a_pattern_too_small_for_a_numeric_charset_is_refused_on_the_book(tenant):
    response = post(tenant.client, "/api/v1/books", {"name": "Tiny", "code_pattern": "AB", "charset": "numeric"})
    assert assert_problem(response, 400, "validation_error")["errors"][0]["field"] == "code_pattern"
