from __future__ import annotations

import dataclasses
import json
import time
import urllib.error
import urllib.request

import pytest
import redis
from rest_framework.test import APIClient

from books.models import Book, Partner, PartnerAPIKey
from books.tests.factories import BookFactory, PartnerFactory, api_key_for
from coupons.models import Coupon
from coupons.tests.factories import make_coupons


@dataclasses.dataclass
class Tenant:
    """A partner as the API sees it: its key, a client using it, a stocked book."""

    partner: Partner
    api_key: PartnerAPIKey
    key: str
    client: APIClient
    book: Book

    def coupons(self) -> list[Coupon]:
        return list(Coupon.objects.filter(book=self.book).order_by("id"))


def make_tenant(**book_fields) -> Tenant:
    partner = PartnerFactory()
    api_key, key = api_key_for(partner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    book = BookFactory(partner=partner, **book_fields)
    make_coupons(book, 5, prefix=f"P{partner.pk}X")
    return Tenant(partner=partner, api_key=api_key, key=key, client=client, book=book)


@pytest.fixture
def tenant(db) -> Tenant:
    return make_tenant()


@pytest.fixture
def other(db) -> Tenant:
    """Another partner, whose things the first must never see or touch."""
    return make_tenant()


def assert_problem(response, status: int, code: str) -> dict:
    """The response is a problem+json of this status and code; its body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"/api/problems/{code}"
    assert body["title"]
    assert body["detail"]
    return body


def post(client: APIClient, path: str, data: dict | None = None, **headers):
    return client.post(path, data if data is not None else {}, format="json", **headers)


@dataclasses.dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def http(method: str, url: str, *, key: str, body: dict | None = None, headers: dict | None = None) -> HttpAnswer:
    """One real HTTP request (for tests against ``live_server``)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the test's own live server
    request.add_header("Authorization", f"Api-Key {key}")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return HttpAnswer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, dict(error.headers), error.read())


# The machine's Redis, in a database of the tests' own.
REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_available() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


@pytest.fixture
def whole_window():
    """Windows are fixed; a test counting to a limit must not straddle two."""
    into_the_minute = time.time() % 60
    if into_the_minute > 50:
        time.sleep(60.1 - into_the_minute)
