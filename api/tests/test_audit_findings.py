"""The findings of the outside security and fault audit, one test each. They
speak HTTP only, so that each can be run against the code the audit probed,
where it failed."""

import http.client
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.tests.conftest import assert_problem, make_tenant, post
from books.models import Book
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
    # django-csp writes the directives in set order, which changes with PYTHONHASHSEED.
    directives = {directive.strip() for directive in response["Content-Security-Policy"].split(";")}
    assert "default-src 'self'" in directives
    assert "script-src 'self'" in directives
    assert "frame-ancestors 'none'" in directives


def test_l9_api_answers_need_no_content_security_policy(tenant):
    assert "Content-Security-Policy" not in tenant.client.get("/api/v1/me")


def new_book(tenant, pattern: str) -> int:
    response = post(tenant.client, "/api/v1/books", {"name": f"Book {pattern}", "code_pattern": pattern})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_m2_the_keyspace_rule_counts_the_partners_codes_of_that_shape_in_every_book(tenant):
    # "K####": 923,521 codes, sparse enough for 92 across the partner's books.
    first, second = new_book(tenant, "K####"), new_book(tenant, "K####")
    assert post(tenant.client, f"/api/v1/books/{first}/codes/generate", {"count": 60}).status_code == 201

    response = post(tenant.client, f"/api/v1/books/{second}/codes/generate", {"count": 33})

    assert_problem(response, 400, "validation_error")
    assert post(tenant.client, f"/api/v1/books/{second}/codes/generate", {"count": 32}).status_code == 201


@pytest.mark.usefixtures("whole_window")
def test_m2_failed_reads_of_codes_spend_the_partners_budget_and_then_reveal_nothing(tenant, settings, caplog):
    settings.FAILED_LOOKUP_PARTNER_LIMIT = "5/min"
    real = assigned_code(tenant, "holder")

    misses = [tenant.client.get(f"/api/v1/coupons/GUESS-{i}") for i in range(6)]
    afterwards = [tenant.client.get(f"/api/v1/coupons/{real}"), tenant.client.get(f"/api/v1/coupons/{real}/history")]

    for response in misses[:5]:
        assert_problem(response, 404, "not_found")
    for response in [misses[5], *afterwards]:
        assert_problem(response, 429, "throttled")
    passed = [record for record in caplog.records if "passed its budget of failed code look-ups" in record.getMessage()]
    assert [record.levelname for record in passed] == ["WARNING"]


@pytest.mark.usefixtures("whole_window")
def test_m2_a_new_user_id_per_guess_is_throttled_by_the_partners_budget(tenant, settings):
    settings.FAILED_LOOKUP_PARTNER_LIMIT = "5/min"
    real = tenant.coupons()[0].code

    guesses = [post(tenant.client, f"/api/v1/coupons/assign/GUESS-{i}", {"user_id": f"user-{i}"}) for i in range(6)]
    then = post(tenant.client, f"/api/v1/coupons/assign/{real}", {"user_id": "user-new"})

    for response in guesses[:5]:
        assert_problem(response, 404, "not_found")
    assert_problem(guesses[5], 429, "throttled")
    assert_problem(then, 429, "throttled")  # not given away to a guesser
    assert Coupon.objects.get(code=real).user_id is None


@pytest.mark.usefixtures("whole_window")
def test_m2_with_the_budget_spent_users_still_lock_and_redeem_what_they_hold(tenant, settings):
    settings.FAILED_LOOKUP_PARTNER_LIMIT = "3/min"
    code = assigned_code(tenant, "shopper")
    for i in range(4):
        tenant.client.get(f"/api/v1/coupons/GUESS-{i}")

    lock = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": "shopper"})
    redeem = post(
        tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "shopper", "lock_id": lock.json()["lock_id"]}
    )

    assert (lock.status_code, redeem.status_code) == (200, 200)
    assert_problem(post(tenant.client, f"/api/v1/coupons/lock/{code}x", {"user_id": "shopper"}), 429, "throttled")


def csv_upload(tenant, content: bytes):
    upload = SimpleUploadedFile("codes.csv", content, content_type="text/csv")
    return tenant.client.post(f"/api/v1/books/{tenant.book.pk}/codes/upload", {"file": upload}, format="multipart")


def test_l2_a_file_of_100001_codes_without_a_header_is_refused_and_stores_nothing(tenant):
    before = Coupon.objects.count()

    response = csv_upload(tenant, b"".join(b"L2-%d\n" % i for i in range(100_001)))

    assert_problem(response, 400, "validation_error")
    assert response.json()["errors"][0]["field"] == "file"
    assert Coupon.objects.count() == before


def test_l3_a_json_upload_lists_at_most_100_bad_items_and_counts_them_all(tenant):
    codes = [f"bad code {i}" for i in range(5_000)]

    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": codes})

    body = assert_problem(response, 400, "validation_error")
    assert len(body["errors"]) == 100
    assert body["detail"].startswith("5000 rows are not valid codes")


def test_l3_a_json_upload_of_items_that_are_not_strings_gets_a_short_answer(tenant):
    # The audit's 100,000 bad items answered 6.8 MB, one error for each.
    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": [None] * 100_000})

    body = assert_problem(response, 400, "validation_error")
    assert len(body["errors"]) <= 100
    assert len(response.content) < 10_000


@pytest.mark.django_db(transaction=True)
def test_l11_a_chunked_body_is_refused_with_a_clear_message_and_nothing_is_created(live_server):
    tenant = make_tenant()
    host, port = live_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps({"name": "Sent in chunks"}).encode()

    connection.request(
        "POST",
        "/api/v1/books",
        body=iter([body[:10], body[10:]]),
        headers={"Authorization": f"Api-Key {tenant.key}", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    problem = json.loads(response.read())

    assert (response.status, problem["code"]) == (400, "validation_error")
    assert problem["errors"][0]["field"] == "body"
    assert "Content-Length" in problem["errors"][0]["detail"]
    assert not Book.objects.filter(name="Sent in chunks").exists()
