"""Audit M4: the admin's login lockout (django-axes) hooks Django's
authenticate() and its signals; the partner API authenticates keys, not
passwords, so it neither queries axes' tables nor can lock anyone out."""

from __future__ import annotations

import re

from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.tests.conftest import assert_problem, post

AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"
AXES_BACKEND = "axes.backends.AxesStandaloneBackend"


def tables(queries: CaptureQueriesContext) -> list[list[str]]:
    return [sorted(set(re.findall(r'(?:FROM|INTO|UPDATE|JOIN) "(\w+)"', query["sql"]))) for query in queries]


def hot_path_tables(tenant, user_id: str) -> list[list[str]]:
    """The tables each query of a key look-up and an assignment reads or writes, in order."""
    tenant.client.get("/api/v1/me")  # a warm connection, as in a running worker
    with CaptureQueriesContext(connection) as queries:
        assert tenant.client.get("/api/v1/me").status_code == 200
        assigned = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": user_id})
        assert assigned.status_code in {200, 201}, assigned.content
    return tables(queries)


def test_api_requests_make_the_same_queries_with_the_lockout_as_without(tenant):
    assert AXES_MIDDLEWARE in settings.MIDDLEWARE
    assert AXES_BACKEND in settings.AUTHENTICATION_BACKENDS
    with_lockout = hot_path_tables(tenant, "u1")

    with override_settings(
        MIDDLEWARE=[name for name in settings.MIDDLEWARE if name != AXES_MIDDLEWARE],
        AUTHENTICATION_BACKENDS=[name for name in settings.AUTHENTICATION_BACKENDS if name != AXES_BACKEND],
    ):
        without_lockout = hot_path_tables(tenant, "u2")

    assert with_lockout == without_lockout
    assert not [table for query in with_lockout for table in query if table.startswith("axes_")]


def test_wrong_api_keys_never_lock_anyone_out(tenant):
    stranger = APIClient(REMOTE_ADDR="203.0.113.7")
    stranger.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.api_key.prefix}.{'x' * 32}")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(settings.AXES_FAILURE_LIMIT * 2):
            assert_problem(stranger.get("/api/v1/me"), 401, "not_authenticated")

    assert not [query for query in queries if "axes_" in query["sql"]]
    assert not AccessAttempt.objects.exists()
    partner = APIClient(REMOTE_ADDR="203.0.113.7")
    partner.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.key}")
    assert partner.get("/api/v1/me").status_code == 200
