"""The OpenAPI document and the docs pages: complete, valid, no CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from api.problems import PROBLEM_CONTENT_TYPE
from couponsite.errors import ERRORS, ErrorCode

# DESIGN.md's error table.
CONTRACT_CODES = {
    "validation_error": 400,
    "not_authenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "book_inactive": 409,
    "book_exhausted": 409,
    "assignment_limit_reached": 409,
    "coupon_unavailable": 409,
    "coupon_not_held": 409,
    "coupon_locked": 409,
    "coupon_not_locked": 409,
    "coupon_redeemed": 409,
    "coupon_void": 409,
    "redemption_rolled_back": 409,
    "idempotency_key_reused": 422,
    "idempotency_key_in_flight": 409,
    "throttled": 429,
    "service_unavailable": 503,
    "export_not_ready": 409,
}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_the_catalogue_matches_the_contract_and_the_error_codes():
    assert {code: ERRORS[code].status for code in CONTRACT_CODES} == CONTRACT_CODES
    assert set(ERRORS) == set(ErrorCode)


def test_the_problem_schema_lists_every_code(schema):
    problem = schema["components"]["schemas"]["Problem"]
    code_schema = schema["components"]["schemas"][problem["properties"]["code"]["$ref"].rsplit("/", 1)[1]]
    assert set(code_schema["enum"]) == set(ERRORS)


def test_every_contract_error_code_has_an_example_somewhere(schema):
    documented = set()
    for _, operation in operations(schema):
        for response in operation["responses"].values():
            examples = response.get("content", {}).get(PROBLEM_CONTENT_TYPE, {}).get("examples", {})
            documented |= {example["value"]["code"] for example in examples.values()}
    assert set(CONTRACT_CODES) <= documented


def test_every_operation_is_authenticated_by_api_key_and_has_examples(schema):
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    for label, operation in operations(schema):
        assert operation["security"] == [{"ApiKeyAuth": []}], label
        status, success = next((s, r) for s, r in operation["responses"].items() if s.startswith("2"))
        if status != "204":  # no content
            assert any(media.get("examples") for media in success["content"].values()), f"{label}: no response example"
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]
            assert any(media.get("examples") for media in content.values()), f"{label}: no request example"
        errors = {status for status in operation["responses"] if status[0] in "45"}
        assert {"400", "401", "403", "429"} <= errors, label


def test_every_post_documents_the_idempotency_key(schema):
    for label, operation in operations(schema):
        if label.startswith("POST"):
            assert "Idempotency-Key" in [p["name"] for p in operation.get("parameters", [])], label


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_nothing_from_another_site(db, path):
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{path} loads {asset}"
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset


def test_the_schema_is_served(db):
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content


@pytest.mark.parametrize(
    ("old", "new"), [("/docs", "/api/docs/"), ("/redoc", "/api/redoc/"), ("/openapi.json", "/api/schema/?format=json")]
)
def test_the_original_services_addresses_redirect_to_the_docs(db, old, new):
    response = Client().get(old)
    assert (response.status_code, response["Location"]) == (301, new)


def test_openapi_json_ends_at_the_schema_in_json(db):
    response = Client().get("/openapi.json", follow=True)
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
