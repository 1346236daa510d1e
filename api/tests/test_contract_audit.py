"""Deviations from DESIGN.md's partner contract found in an audit, one test each,
and the contract's "exactly like one that does not exist" checked byte for byte."""

from __future__ import annotations

import json
import os
import uuid
from urllib.parse import urlparse

import pytest
from django.db import connections
from django.test import Client
from playwright import sync_api as playwright_sync

from api.exceptions import problem_for_exception
from api.tests.conftest import Tenant, assert_problem, make_tenant, post
from api.tests.test_tenant_isolation import OWNED, PARAMETER, ROUTES
from coupons.services import coupon_assign_random
from couponsite import errors
from couponsite.actors import Actor
from couponsite.errors import ERRORS
from exports.services import export_book_codes_start
from redemptions.services import coupon_redeem
from webhooks.services import webhook_create

ACTOR = Actor.api_key("setup")
V1_ROUTES = [route for route in ROUTES if route.path.startswith("/api/v1/")]


def _path(route, values: dict[str, str]) -> str:
    return PARAMETER.sub(lambda m: values[m["name"]], route.path)


# OPTIONS: DRF describes a POST body from the view's serializer_class, which our
# views do not have; it was a 500 on every route that takes a POST.


@pytest.mark.parametrize("route", V1_ROUTES, ids=[r.path for r in V1_ROUTES])
def test_options_answers_on_every_route(tenant, route):
    values = {
        "book_id": str(tenant.book.pk),
        "code": "ANY-CODE",
        "user_id": "u1",
        "redemption_id": str(uuid.uuid4()),
        "webhook_id": str(uuid.uuid4()),
        "export_id": str(uuid.uuid4()),
    }
    response = tenant.client.options(_path(route, values))
    assert response.status_code == 200, response.content[:300]
    assert set(route.methods) <= {m.strip() for m in response["Allow"].split(",")}


# Problem titles: RFC 9457's title names the problem type. The body's title is the
# one the schema's examples and GET /api/problems/{code} document.

SERVICE_ERRORS = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.ServiceError) and cls.code in ERRORS
]


@pytest.mark.parametrize("error_class", SERVICE_ERRORS, ids=[cls.__name__ for cls in SERVICE_ERRORS])
def test_a_domain_errors_title_is_its_documented_title(error_class):
    body, _ = problem_for_exception(error_class("what happened"))
    assert body["title"] == ERRORS[body["code"]].title
    assert body["detail"] == "what happened"


def test_a_conflicts_title_matches_its_problem_type_page(tenant):
    code = coupon_assign_random(partner=tenant.book.partner, book_id=tenant.book.pk, user_id="u1", actor=ACTOR).code
    response = post(tenant.client, f"/api/v1/coupons/assign/{code}", {"user_id": "u2"})
    body = assert_problem(response, 409, "coupon_unavailable")
    documented = Client().get(body["type"]).json()
    assert body["title"] == documented["title"]


# Another partner's book, coupon or redemption answers exactly like a missing one.


@pytest.fixture
def owner(db) -> tuple[Tenant, dict[str, str]]:
    """Another partner, and the path values of its things."""
    owner = make_tenant()
    code = coupon_assign_random(partner=owner.book.partner, book_id=owner.book.pk, user_id="u1", actor=ACTOR).code
    _, redemption = coupon_redeem(partner=owner.partner, code=code, user_id="u1", actor=ACTOR)
    webhook = webhook_create(partner=owner.partner, url="http://127.0.0.1:8001/owner", event_types=[])
    export = export_book_codes_start(book=owner.book, actor=ACTOR, for_people=False)
    values = {"book_id": str(owner.book.pk), "code": code, "redemption_id": str(redemption.pk)}
    return owner, {**values, "webhook_id": str(webhook.pk), "export_id": str(export.pk)}


MISSING = {
    "book_id": str(2**40),
    "code": "NO-SUCH-CODE",
    "redemption_id": str(uuid.uuid4()),
    "webhook_id": str(uuid.uuid4()),
    "export_id": str(uuid.uuid4()),
}
OWNED_CASES = [
    (route, method)
    for route in V1_ROUTES
    for method in route.methods
    if route.parameters & OWNED or route.path.endswith("/coupons/assign")
]


@pytest.mark.parametrize(("route", "method"), OWNED_CASES, ids=[f"{m} {r.path}" for r, m in OWNED_CASES])
def test_another_partners_thing_answers_byte_for_byte_like_a_missing_one(tenant, owner, route, method):
    _, theirs = owner
    body = {"user_id": "u1", "lock_id": str(uuid.uuid4()), "count": 1, "codes": ["NEW-1"], "name": "n", "metadata": {}}

    def call(values: dict[str, str]):
        path = _path(route, {**values, "user_id": "u1"})
        if method == "GET":
            return tenant.client.get(path)
        data = json.dumps({**body, "book_id": int(values["book_id"])})
        return tenant.client.generic(method, path, data, content_type="application/json")

    missing, foreign = call(MISSING), call(theirs)
    assert missing.status_code == 404
    assert (foreign.status_code, foreign.content) == (missing.status_code, missing.content)
    assert foreign["Content-Type"] == missing["Content-Type"] == "application/problem+json"


# The docs pages, in a real browser: nothing may be fetched from another site.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
def browser(monkeypatch):
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing: `python3 dev.py test` installs it with apt when run as root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    connections.close_all()


DOCS_PAGES = [("/api/docs/", "/api/v1/coupons/lock/{code}"), ("/api/redoc/", "API docs by")]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path", "rendered"), DOCS_PAGES)
def test_docs_pages_fetch_nothing_from_another_site_in_a_browser(browser, live_server, path, rendered):
    page = browser.new_page()
    fetched: list[str] = []
    # A request the page's Content-Security-Policy stops never leaves the browser.
    page.on("requestfinished", lambda request: fetched.append(request.url))
    page.on("requestfailed", lambda request: request.failure != "csp" and fetched.append(request.url))
    page.goto(live_server.url + path)
    page.get_by_text(rendered).first.wait_for(timeout=15_000)
    page.wait_for_load_state("networkidle")
    own = urlparse(live_server.url).netloc
    elsewhere = [url for url in fetched if urlparse(url).scheme in ("http", "https") and urlparse(url).netloc != own]
    assert not elsewhere, f"{path} fetched {elsewhere}"
