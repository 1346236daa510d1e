"""Out-of-range input is a 400 validation_error naming the field, never a 500."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from api.tests.conftest import assert_problem, post
from coupons.services import coupon_assign_random
from couponsite.actors import Actor


def fields(response) -> list[str]:
    return [e["field"] for e in assert_problem(response, 400, "validation_error")["errors"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": "A", "max_codes_per_user": 10**30}, "max_codes_per_user"),
        ({"name": "A", "max_redemptions_per_coupon": 0}, "max_redemptions_per_coupon"),
        ({"name": "A", "max_codes_per_user": 1.5}, "max_codes_per_user"),
        ({"name": "A", "valid_from": "0001-01-01T00:00:00+14:00"}, "valid_from"),
        ({"name": "A", "code_pattern": "#" * 65}, "code_pattern"),
        ({"name": "A\x00"}, "name"),
    ],
    ids=["long name", "huge limit", "zero limit", "fraction", "date off the calendar", "long pattern", "NUL"],
)
def test_book_fields(tenant, body, field):
    assert fields(post(tenant.client, "/api/v1/books", body)) == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"book_id": 10**30, "user_id": "u"}, "book_id"),
        ({"book_id": 1, "user_id": "u" * 129}, "user_id"),
        ({"book_id": 1, "user_id": ""}, "user_id"),
        ({"book_id": 1, "user_id": "a\x00b"}, "user_id"),
        ({"book_id": 1, "user_id": ["u"]}, "user_id"),
    ],
    ids=["huge book id", "long user", "empty user", "NUL in user", "list as user"],
)
def test_assign_fields(tenant, body, field):
    assert fields(post(tenant.client, "/api/v1/coupons/assign", body)) == [field]


def test_a_user_id_of_128_characters_is_fine(tenant):
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "u" * 128})
    assert response.status_code == 201


@pytest.mark.parametrize("count", [0, 100_001, 10**30, "many"])
def test_generate_count_range(tenant, count):
    assert fields(post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/generate", {"count": count})) == ["count"]


def test_at_most_100000_codes_a_json_upload(tenant):
    codes = [f"C{i}" for i in range(100_001)]
    assert fields(post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": codes})) == ["codes"]


def test_at_most_100000_codes_a_file(tenant):
    content = b"code\n" + b"".join(b"F%d\n" % i for i in range(100_001))
    upload = SimpleUploadedFile("codes.csv", content, content_type="text/csv")
    response = tenant.client.post(f"/api/v1/books/{tenant.book.pk}/codes/upload", {"file": upload}, format="multipart")
    assert fields(response) == ["file"]


def test_a_code_longer_than_64_is_a_row_error(tenant):
    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": ["A" * 65]})
    errors = assert_problem(response, 400, "validation_error")["errors"]
    assert errors[0]["line"] == 1


def test_a_path_code_that_cannot_exist_is_not_found(tenant):
    for code in ("A" * 65, "a b", "semi;colon"):
        assert_problem(tenant.client.get(f"/api/v1/coupons/{code}"), 404, "not_found")


def test_a_path_user_id_longer_than_128_is_invalid(tenant):
    assert fields(tenant.client.get(f"/api/v1/users/{'u' * 129}/coupons")) == ["user_id"]


def test_a_huge_book_id_in_the_path_is_not_found(tenant):
    assert_problem(tenant.client.get(f"/api/v1/books/{10**30}"), 404, "not_found")


@pytest.mark.parametrize(
    "metadata",
    [{"blob": "x" * 4100}, ["not", "an", "object"], {"nul": "a\x00b"}],
    ids=["over 4 KB", "not an object", "NUL"],
)
def test_redemption_metadata(tenant, metadata):
    code = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u", actor=Actor.system("test")
    ).code
    response = post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "u", "metadata": metadata})
    assert fields(response) == ["metadata"]


@override_settings(API_MAX_BODY_BYTES=1000)
def test_a_body_over_the_limit(tenant):
    response = post(tenant.client, "/api/v1/books", {"name": "A", "description": "x" * 2000})
    assert fields(response) == ["body"]


@pytest.mark.parametrize("depth", [100, 900, 100_000])
def test_deeply_nested_json_is_a_parse_error(tenant, depth):
    # Below Python's recursion limit the parser copes, but the fingerprint,
    # serializers and services would walk it recursively.
    code = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u", actor=Actor.system("test")
    ).code
    body = '{"user_id": "u", "metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    response = tenant.client.post(
        f"/api/v1/coupons/redeem/{code}", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert fields(response) == ["body"]


def test_a_body_that_is_not_an_object(tenant):
    assert fields(post(tenant.client, "/api/v1/books", ["A"])) == ["non_field_errors"]
