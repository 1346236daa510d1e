"""A database that does not answer is a 503, never a 500 or an unbounded wait
(issue 11, Faults): down, a dropped connection, a statement or a lock wait
over its time. Every block here is real: another session holds the lock, the
server ends the connection, nothing listens on the port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from api.tests.conftest import assert_problem, post
from coupons.models import Coupon, CouponState
from couponsite.locks import LockKind, stable_key

pytestmark = pytest.mark.django_db(transaction=True)

# Short, so that a test that waits them out stays quick; the blocker holds far longer.
API_LOCK_TIMEOUT = 0.3
API_STATEMENT_TIMEOUT = 0.6
BLOCKED_FOR = 4.0


@pytest.fixture(autouse=True)
def short_api_timeouts(settings):
    settings.API_LOCK_TIMEOUT_SECONDS = API_LOCK_TIMEOUT
    settings.API_STATEMENT_TIMEOUT_SECONDS = API_STATEMENT_TIMEOUT


@contextlib.contextmanager
def another_session_holding(sql: str, params: list | None = None) -> Iterator[None]:
    """Another connection runs ``sql`` in a transaction it keeps open for
    ``BLOCKED_FOR`` seconds at most (so that a request that would wait for it
    without a timeout still ends, and fails its test on time and status)."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=False) as other:
        other.execute(sql, params)
        released = threading.Timer(BLOCKED_FOR, other.rollback)
        released.start()
        try:
            yield
        finally:
            released.cancel()
            other.rollback()


def assert_service_unavailable(response) -> None:
    assert_problem(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) >= 1


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def assigned(tenant, user_id: str = "shopper") -> Coupon:
    response = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": user_id})
    assert response.status_code == 201, response.content
    return Coupon.objects.get(code=response.json()["code"])


def test_a_request_waiting_on_a_row_lock_answers_503_after_the_lock_timeout(tenant):
    coupon = assigned(tenant)
    with another_session_holding("SELECT id FROM coupons_coupon WHERE id = %s FOR UPDATE", [coupon.pk]):
        response, elapsed = timed(
            lambda: post(
                tenant.client, f"/api/v1/coupons/lock/{coupon.code}", {"user_id": "shopper"}, HTTP_IDEMPOTENCY_KEY="k1"
            )
        )

    assert_service_unavailable(response)
    assert elapsed < API_LOCK_TIMEOUT + 1.5, elapsed
    coupon.refresh_from_db()
    assert coupon.state == CouponState.ASSIGNED
    # The 503 was not stored: the retry with the same key acts, once.
    path = f"/api/v1/coupons/lock/{coupon.code}"
    retry = post(tenant.client, path, {"user_id": "shopper"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert retry.status_code == 200, retry.content
    assert "Idempotent-Replayed" not in retry
    coupon.refresh_from_db()
    assert coupon.state == CouponState.LOCKED


def test_a_request_waiting_on_an_advisory_lock_answers_503_after_the_statement_timeout(tenant, settings):
    settings.API_LOCK_TIMEOUT_SECONDS = 0  # none: the statement's own time is what ends the wait
    key = stable_key(LockKind.BOOK_USER, tenant.book.pk, "shopper")
    with another_session_holding("SELECT pg_advisory_xact_lock(%s)", [key]):
        response, elapsed = timed(
            lambda: post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "shopper"})
        )

    assert_service_unavailable(response)
    assert elapsed < API_STATEMENT_TIMEOUT + 1.5, elapsed
    assert not Coupon.objects.filter(book=tenant.book, user_id="shopper").exists()


def test_a_read_outside_a_transaction_waits_no_longer_than_the_lock_timeout(tenant):
    with another_session_holding("LOCK TABLE books_book IN ACCESS EXCLUSIVE MODE"):
        response, elapsed = timed(lambda: tenant.client.get(f"/api/v1/books/{tenant.book.pk}"))

    assert_service_unavailable(response)
    assert elapsed < API_LOCK_TIMEOUT + 1.5, elapsed


def generate_while_another_generation_runs(tenant, *, for_seconds: float):
    """POST codes/generate while another session holds the partner's
    generation lock for ``for_seconds``; the answer and how long it took."""
    generation = stable_key(LockKind.PARTNER_GENERATION, tenant.partner.pk)
    with psycopg.connect(**connection.get_connection_params(), autocommit=False) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [generation])
        released = threading.Timer(for_seconds, other.rollback)
        released.start()
        try:
            return timed(lambda: post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/generate", {"count": 10}))
        finally:
            released.join()


def test_a_bulk_load_through_the_api_waits_by_the_bulk_lock_timeout_in_place_of_the_requests(tenant, settings):
    # Longer than the request's, shorter than the bulk one: it waits, and loads.
    settings.BULK_LOCK_TIMEOUT_SECONDS = 30
    loaded, waited = generate_while_another_generation_runs(tenant, for_seconds=API_LOCK_TIMEOUT * 4)
    # The other way round: the bulk one ends the wait.
    settings.API_LOCK_TIMEOUT_SECONDS = 30
    settings.BULK_LOCK_TIMEOUT_SECONDS = 0.3
    refused, gave_up_after = generate_while_another_generation_runs(tenant, for_seconds=BLOCKED_FOR)

    assert loaded.status_code == 201, loaded.content
    assert waited > API_LOCK_TIMEOUT * 2, waited
    assert_service_unavailable(refused)
    assert gave_up_after < 0.3 + 1.5, gave_up_after
    assert Coupon.objects.filter(book=tenant.book).count() == 5 + 10


def test_a_connection_the_server_ended_answers_503(tenant, monkeypatch):
    # Without the health check, the first query of the request finds the connection dead.
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        if cursor.fetchone()[0] != connection.connection.info.backend_pid:
            pytest.skip("a pooler (PgBouncer) in between replaces a server connection that was ended")
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])

    try:
        response = tenant.client.get("/api/v1/books")
    finally:
        # Served by Django's handler, the end of the request closes the dead
        # connection; the test client leaves that to the test.
        connection.close()

    assert_service_unavailable(response)


def test_a_database_nobody_answers_on_is_a_503_problem_with_retry_after():
    # A real process whose database is a port nobody listens on.
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "response = Client().post('/api/v1/coupons/assign', {'book_id': 1, 'user_id': 'u'},"
        " content_type='application/json', HTTP_AUTHORIZATION='Api-Key abcdefgh.secret', HTTP_IDEMPOTENCY_KEY='k');"
        "print(response.status_code, response['Content-Type'], response.json()['code'], response.get('Retry-After'))"
    )
    environment = dict(os.environ)
    environment.update(
        DJANGO_ENV="test",
        DJANGO_SETTINGS_MODULE="couponsite.settings",
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing",
        CONN_MAX_AGE="0",
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    status, content_type, problem, retry_after = result.stdout.split() or [result.stderr[-2000:]] * 4
    assert (status, content_type, problem) == ("503", "application/problem+json", "service_unavailable")
    assert retry_after.isdigit() and int(retry_after) >= 1, retry_after
