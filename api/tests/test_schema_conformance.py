"""The server takes exactly what the schema says, and the schema says what the
server takes: each case schemathesis found against the API, pinned down."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from api.tests.conftest import assert_problem, post
from books.models import Book


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def query_parameter(schema: dict, path: str, name: str) -> dict:
    parameters = schema["paths"][path]["get"]["parameters"]
    return next(p for p in parameters if p["name"] == name and p["in"] == "query")["schema"]


def refused_field(response, field: str) -> None:
    body = assert_problem(response, 400, "validation_error")
    assert field in {error.get("field", "").split(".")[0] for error in body["errors"]}, body


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_is_active_takes_only_a_json_boolean(tenant, value):
    response = tenant.client.patch(f"/api/v1/books/{tenant.book.pk}", {"is_active": value}, format="json")
    refused_field(response, "is_active")
    tenant.book.refresh_from_db()
    assert tenant.book.is_active is True


@pytest.mark.parametrize("value", ["5", 5.0, True])
def test_integers_in_bodies_are_json_integers(tenant, value):
    book = f"/api/v1/books/{tenant.book.pk}"
    refused_field(post(tenant.client, f"{book}/codes/generate", {"count": value, "pattern": "T-########"}), "count")
    refused_field(tenant.client.patch(book, {"max_codes_per_user": value}, format="json"), "max_codes_per_user")
    refused_field(post(tenant.client, "/api/v1/coupons/assign", {"book_id": value, "user_id": "u1"}), "book_id")


@pytest.mark.parametrize("value", [5, 5.5, True, ["a"]])
def test_strings_in_bodies_are_json_strings(tenant, value):
    refused_field(post(tenant.client, "/api/v1/books", {"name": value}), "name")
    # An upload's rows are the import's to list (audit L3), a row that is not a string too.
    upload = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": [value]})
    assert assert_problem(upload, 400, "validation_error")["errors"][0]["line"] == 1
    assert Book.objects.filter(partner=tenant.partner).count() == 1


def test_a_lock_id_is_a_uuid_string_not_a_number(tenant):
    code = tenant.coupons()[0].code
    response = post(tenant.client, f"/api/v1/coupons/unlock/{code}", {"user_id": "u1", "lock_id": 12345})
    refused_field(response, "lock_id")


def test_a_name_of_white_space_is_refused_by_the_schema_and_the_server(tenant, schema):
    pattern = re.compile(component(schema, "BookWriteRequest")["properties"]["name"]["pattern"])
    for name in [" ", "\t\u3000", "\x1c"]:
        assert not pattern.search(name)
        refused_field(post(tenant.client, "/api/v1/books", {"name": name}), "name")
    assert pattern.search(" Spring sale ")
    response = post(tenant.client, "/api/v1/books", {"name": " Spring sale "})
    assert response.status_code == 201
    assert response.json()["name"] == " Spring sale "  # as sent: the schema cannot say "trimmed"


def test_text_with_nul_is_refused_by_the_schema_and_the_server(tenant, schema):
    rollback = schema["paths"]["/api/v1/redemptions/{redemption_id}/rollback"]["post"]
    reason = component(schema, rollback["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1])
    assert not re.search(reason["properties"]["reason"]["oneOf"][0]["pattern"], "a\x00")
    refused_field(post(tenant.client, "/api/v1/books", {"name": "a\x00"}), "name")


@pytest.mark.parametrize("value", ["null", "0", "-5", "2.5", "abc", "", "1_0"])
def test_page_size_is_a_whole_number_from_one(tenant, value):
    for path in ["/api/v1/books", f"/api/v1/books/{tenant.book.pk}/coupons", "/api/v1/users/u1/coupons"]:
        refused_field(tenant.client.get(path, {"page_size": value}), "page_size")


def test_a_page_size_above_the_most_gives_the_most(tenant):
    response = tenant.client.get(f"/api/v1/books/{tenant.book.pk}/coupons", {"page_size": "99999999999999999999"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 5


def test_query_filters_are_documented_as_the_server_reads_them(schema):
    assert query_parameter(schema, "/api/v1/books", "is_active")["type"] == "boolean"
    assert query_parameter(schema, "/api/v1/books", "name")["maxLength"] == 200


def test_page_size_is_documented_as_the_server_reads_it(schema):
    for path in ["/api/v1/books", "/api/v1/books/{book_id}/coupons", "/api/v1/users/{user_id}/coupons"]:
        assert query_parameter(schema, path, "page_size") == {"type": "integer", "minimum": 1}


@pytest.mark.parametrize("value", ["1.5", "1.0", "1_0", " 1", "null"])
def test_whole_numbers_in_query_strings_are_digits(tenant, value):
    refused_field(tenant.client.get("/api/v1/users/u1/coupons", {"book_id": value}), "book_id")
    refused_field(tenant.client.get(f"/api/v1/books/{tenant.book.pk}/stats", {"days": value}), "days")


def test_the_book_id_filter_is_documented_as_an_integer(schema):
    book_id = query_parameter(schema, "/api/v1/users/{user_id}/coupons", "book_id")
    assert book_id == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def test_every_post_takes_an_idempotency_key_and_documents_both_of_its_answers(schema):
    operations = [
        (f"{method} {path}", method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    keyed = [(name, operation) for name, method, operation in operations if has_idempotency_key(operation)]
    assert {name for name, method, _ in operations if method == "post"} <= {name for name, _ in keyed}
    for name, operation in keyed:
        for status, code in [("409", "idempotency_key_in_flight"), ("422", "idempotency_key_reused")]:
            examples = operation["responses"][status]["content"]["application/problem+json"]["examples"]
            assert code in {example["value"]["code"] for example in examples.values()}, (name, status)


def has_idempotency_key(operation: dict) -> bool:
    return "Idempotency-Key" in {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def test_a_coupons_patch_requires_its_metadata_in_the_schema_as_in_the_server(tenant, schema):
    body = schema["paths"]["/api/v1/coupons/{code}"]["patch"]["requestBody"]
    assert body["required"] is True
    assert component(schema, body["content"]["application/json"]["schema"]["$ref"].split("/")[-1])["required"] == [
        "metadata"
    ]
    code = tenant.coupons()[0].code
    refused_field(tenant.client.patch(f"/api/v1/coupons/{code}", {}, format="json"), "metadata")
