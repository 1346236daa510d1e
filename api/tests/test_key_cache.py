"""A verified key is remembered per process for API_KEY_CACHE_SECONDS:
revocation and a partner's deactivation take effect within that time."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.authentication import VERIFIED_KEYS
from api.tests.conftest import assert_problem
from books.models import PartnerAPIKey
from books.services import api_key_revoke, partner_set_active


class Clock:
    """time.monotonic as the key cache reads it, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    VERIFIED_KEYS.clear()
    clock = Clock()
    monkeypatch.setattr("api.authentication.time.monotonic", clock)
    yield clock
    VERIFIED_KEYS.clear()


@override_settings(API_KEY_CACHE_SECONDS=5)
def test_a_revoked_key_is_refused_once_the_cache_time_has_passed(tenant, clock):
    assert tenant.client.get("/api/v1/me").status_code == 200
    api_key_revoke(prefix=tenant.api_key.prefix)

    clock.now += 4.9
    with CaptureQueriesContext(connection) as queries:
        assert tenant.client.get("/api/v1/me").status_code == 200  # trusted for up to 5 s
    assert not [query for query in queries if PartnerAPIKey._meta.db_table in query["sql"]]
    clock.now += 0.2
    assert_problem(tenant.client.get("/api/v1/me"), 403, "permission_denied")


@override_settings(API_KEY_CACHE_SECONDS=5)
def test_a_deactivated_partner_is_refused_once_the_cache_time_has_passed(tenant, clock):
    assert tenant.client.get("/api/v1/me").status_code == 200
    partner_set_active(partner=tenant.partner, is_active=False)

    clock.now += 5.1
    assert_problem(tenant.client.get("/api/v1/me"), 403, "permission_denied")


@override_settings(API_KEY_CACHE_SECONDS=5)
def test_a_bad_key_is_never_remembered(tenant, clock):
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.api_key.prefix}.{'x' * 32}")
    for _ in range(2):
        assert_problem(stranger.get("/api/v1/me"), 401, "not_authenticated")
    assert tenant.client.get("/api/v1/me").status_code == 200


@override_settings(API_KEY_CACHE_SECONDS=0)
def test_with_no_cache_time_a_revocation_is_at_once(tenant, clock):
    assert tenant.client.get("/api/v1/me").status_code == 200
    PartnerAPIKey.objects.filter(pk=tenant.api_key.pk).update(revoked=True)

    assert_problem(tenant.client.get("/api/v1/me"), 403, "permission_denied")
