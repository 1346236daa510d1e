"""Metadata on books and coupons: the partner's own JSON, set and read back."""

from __future__ import annotations

import pytest

from api.tests.conftest import assert_problem, post
from books.models import Book
from coupons.models import Coupon


def patch(client, path: str, data: dict, **headers):
    return client.patch(path, data, format="json", **headers)


def test_a_book_keeps_the_metadata_it_is_created_with_and_a_patch_replaces_it(tenant):
    created = post(tenant.client, "/api/v1/books", {"name": "Tagged", "metadata": {"campaign": "spring", "n": 1}})
    path = f"/api/v1/books/{created.json()['id']}"

    replaced = patch(tenant.client, path, {"metadata": {"campaign": "summer"}})

    assert created.json()["metadata"] == {"campaign": "spring", "n": 1}
    assert replaced.json()["metadata"] == {"campaign": "summer"}
    assert tenant.client.get(path).json()["metadata"] == {"campaign": "summer"}
    assert tenant.client.get("/api/v1/books?name=Tagged").json()["results"][0]["metadata"] == {"campaign": "summer"}


def test_a_coupons_metadata_is_empty_until_set_and_read_back_everywhere(tenant):
    code = tenant.coupons()[0].code
    assert tenant.client.get(f"/api/v1/coupons/{code}").json()["metadata"] == {}

    response = patch(tenant.client, f"/api/v1/coupons/{code.lower()}", {"metadata": {"tier": "gold"}})

    assert (response.status_code, response.json()["metadata"]) == (200, {"tier": "gold"})
    assert tenant.client.get(f"/api/v1/coupons/{code}").json()["metadata"] == {"tier": "gold"}
    assigned = post(tenant.client, f"/api/v1/coupons/assign/{code}", {"user_id": "u1"}).json()
    assert assigned["metadata"] == {"tier": "gold"}
    listed = tenant.client.get("/api/v1/users/u1/coupons").json()["results"]
    assert [coupon["metadata"] for coupon in listed] == [{"tier": "gold"}]


def test_a_coupon_patch_replaces_the_whole_object(tenant):
    code = tenant.coupons()[0].code
    patch(tenant.client, f"/api/v1/coupons/{code}", {"metadata": {"a": 1, "b": 2}})

    patch(tenant.client, f"/api/v1/coupons/{code}", {"metadata": {"b": 3}})

    assert Coupon.objects.get(code=code).metadata == {"b": 3}


@pytest.mark.parametrize(
    "metadata", [{"blob": "x" * 4100}, ["a list"], "text", None], ids=["over 4 KB", "list", "string", "null"]
)
def test_metadata_that_is_not_a_small_object_is_refused_on_books_and_coupons(tenant, metadata):
    code = tenant.coupons()[0].code

    book = post(tenant.client, "/api/v1/books", {"name": "Bad", "metadata": metadata})
    coupon = patch(tenant.client, f"/api/v1/coupons/{code}", {"metadata": metadata})

    assert assert_problem(book, 400, "validation_error")["errors"][0]["field"] == "metadata"
    assert assert_problem(coupon, 400, "validation_error")["errors"][0]["field"] == "metadata"
    assert not Book.objects.filter(name="Bad").exists()
    assert Coupon.objects.get(code=code).metadata == {}


def test_another_partners_coupon_cannot_be_tagged(tenant, other):
    code = tenant.coupons()[0].code

    assert_problem(patch(other.client, f"/api/v1/coupons/{code}", {"metadata": {"x": 1}}), 404, "not_found")
    assert Coupon.objects.get(code=code).metadata == {}


def test_generated_and_uploaded_coupons_start_with_empty_metadata(tenant):
    post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/generate", {"count": 3})
    post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": ["UP-1"]})

    metadata = list(Coupon.objects.filter(book=tenant.book).values_list("metadata", flat=True))
    assert metadata == [{}] * 9  # the tenant's 5, 3 generated, 1 uploaded
