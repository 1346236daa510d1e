"""The service end to end, as production runs it (issues 13 and 14): gunicorn
from ``gunicorn.conf.py`` with ``DJANGO_ENV=production``, a queue worker
(``manage.py procrastinate worker``), a scratch database on the server the
tests use (``DATABASE_URL``'s, else the embedded one) and a webhook receiver
on loopback. A partner's backend uses every feature over HTTP, each answer
checked against the contract (DESIGN.md, docs/api.md); the worker writes the
export and sends the webhooks; staff log in to the admin and find it all.

Production settings, with two departures about this machine, not the service
(``api/tests/end_to_end_settings.py``): webhooks may go to loopback, where the
receiver listens, and the static files are collected into a temporary folder.

Marker ``e2e``, run by CI (``.ci/run``) on its own, left out of the default run:

    .venv/bin/python -m pytest -m e2e -p no:xdist -q api/tests/test_end_to_end.py

Each test is one step of a partner's or staff's day on the servers of the
module, and makes the book it works on: a new step is one more test function
taking the ``api`` fixture (and ``stack`` for the servers and the receiver).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from standardwebhooks.webhooks import Webhook

from api.tests.live_gunicorn import (
    BEHIND_THE_PROXY,
    Answer,
    Client,
    QueueWorker,
    Server,
    http_request,
    manage,
    production_env,
    scratch_database,
    start_gunicorn,
    start_queue_worker,
    stop_gunicorn,
    stop_queue_worker,
)
from couponsite.tests.servers import free_port
from webhooks.tests.receiver import Receiver, Reply, receiving

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SETTINGS = "api.tests.end_to_end_settings"
PARTNER = "End to end"
STAFF_USER = "staff"
# How long the worker may take for a job, and the feed's horizon may be held
# back by another transaction on a shared server.
WAIT_SECONDS = 120
T = TypeVar("T")

# The contract's fields (DESIGN.md: "at least").
BOOK = {
    "id",
    "name",
    "description",
    "max_codes_per_user",
    "max_redemptions_per_coupon",
    "valid_from",
    "valid_until",
    "is_active",
    "created_at",
    "metadata",
    "charset",
    "assignment_ttl_seconds",
}
COUNTS = {"available", "assigned", "locked", "redeemed", "void", "total"}
COUPON = {
    "code",
    "book_id",
    "state",
    "user_id",
    "assigned_at",
    "locked_until",
    "redemption_count",
    "redemptions_remaining",
    "metadata",
}
REDEMPTION = {"id", "code", "book_id", "user_id", "created_at", "metadata", "rolled_back_at", "rollback_reason"}
EXPORT = {"id", "status", "rows", "created_at", "finished_at", "download_url"}
EVENT = {"id", "type", "created_at", "data"}
WEBHOOK = {"id", "url", "events", "description", "is_active", "disabled_reason", "created_at", "updated_at"}
ATTEMPT = {"id", "message_id", "type", "attempted_at", "status_code", "error", "duration_ms", "delivery_status"}
PROBLEM = {"type", "title", "status", "detail", "code"}
NUMBERED_PAGE = {"count", "next", "previous", "results"}
CURSOR_PAGE = {"next", "previous", "results"}
RATE_LIMIT_POLICY = re.compile(r'"default";q=1200;w=60')  # API_RATE's production default
RATE_LIMIT = re.compile(r'"default";r=\d+;t=\d+')


# --------------------------------------------------------------------------- the servers


@dataclasses.dataclass
class Stack:
    gunicorn: Server
    worker: QueueWorker
    receiver: Receiver
    api_key: str
    staff_password: str

    @property
    def port(self) -> int:
        return self.gunicorn.port

    def logs(self) -> str:
        return f"gunicorn:\n{self.gunicorn.log_tail()}\n\nworker:\n{self.worker.log_tail()}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    run = tmp_path_factory.mktemp("e2e")
    with scratch_database("coupons_e2e") as database_url, receiving(Reply(200)) as receiver:
        port = free_port()
        env = production_env(
            database_url=database_url,
            port=port,
            run=run,
            DJANGO_SETTINGS_MODULE=SETTINGS,
            END_TO_END_STATIC_ROOT=str(run / "static"),
            EXPORT_DIR=str(run / "exports"),
            GUNICORN_WORKERS="2",
        )
        manage("migrate", "--no-input", env=env)
        manage("collectstatic", "--no-input", env=env)
        api_key = manage("create_partner", PARTNER, env=env).splitlines()[-1]
        password = secrets.token_urlsafe(16)
        staff = ("createsuperuser", "--no-input", "--username", STAFF_USER, "--email", "staff@example.com")
        manage(*staff, env={**env, "DJANGO_SUPERUSER_PASSWORD": password})
        gunicorn = Server(port=port, env=env, log=run / "gunicorn.log")
        worker = QueueWorker(env=env, log=run / "worker.log")
        try:
            start_gunicorn(gunicorn)
            start_queue_worker(worker)
            yield Stack(gunicorn, worker, receiver, api_key, password)
        finally:
            stop_queue_worker(worker)
            stop_gunicorn(gunicorn)


@pytest.fixture
def api(stack) -> Client:
    return Client(port=stack.port, key=stack.api_key)


# --------------------------------------------------------------------------- the contract's answers


def expect(answer: Answer, status: int, fields: Iterable[str] = ()) -> Any:
    """A JSON answer of this status with at least these fields and the
    rate-limit headers; its body."""
    assert answer.status == status, (answer.status, answer.body[:1000])
    assert answer.headers.get("content-type") == "application/json", answer.headers
    assert_rate_limit_headers(answer)
    body = answer.json()
    missing = set(fields) - set(body if isinstance(body, dict) else ())
    assert not missing, f"{missing} missing in {body}"
    return body


def expect_problem(answer: Answer, status: int, code: str, *, authenticated: bool = True) -> dict:
    """A problem+json of this status and code (with the rate-limit headers
    when a key was recognised); its body."""
    assert answer.status == status, (answer.status, answer.body[:1000])
    assert answer.headers.get("content-type") == "application/problem+json", answer.headers
    if authenticated:
        assert_rate_limit_headers(answer)
    body = answer.json()
    assert set(body) >= PROBLEM and (body["status"], body["code"]) == (status, code), body
    return body


def assert_rate_limit_headers(answer: Answer) -> None:
    assert RATE_LIMIT_POLICY.fullmatch(answer.headers.get("ratelimit-policy", "")), answer.headers
    assert RATE_LIMIT.fullmatch(answer.headers.get("ratelimit", "")), answer.headers


def post(api: Client, path: str, body: dict, *, key: str | None = None) -> Answer:
    """A POST as docs/api.md asks: a new Idempotency-Key for a new action."""
    return api.send("POST", path, body, idempotency_key=key or str(uuid.uuid4()))


def get(api: Client, path: str, **query: Any) -> Answer:
    return api.send("GET", f"{path}?{urlencode(query, doseq=True)}" if query else path)


def wait_until(
    what: str, probe: Callable[[], T | None], *, stack: Stack, nudge: Callable[[], object] | None = None
) -> T:
    """``probe()``'s first true answer; ``nudge()`` every few seconds while waiting."""
    deadline = time.monotonic() + WAIT_SECONDS
    nudged = time.monotonic()
    while time.monotonic() < deadline:
        stack.worker.assert_running()
        if result := probe():
            return result
        if nudge and time.monotonic() - nudged > 3:
            nudge()
            nudged = time.monotonic()
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {WAIT_SECONDS} s\n{stack.logs()}")


def stocked_book(api: Client, name: str, *, codes: int = 20, **fields: Any) -> dict:
    book = expect(post(api, "books", {"name": name, "max_codes_per_user": 1, **fields}), 201, BOOK)
    assert expect(post(api, f"books/{book['id']}/codes/generate", {"count": codes}), 201) == {"created": codes}
    return book


def assign(api: Client, book: dict, user_id: str) -> dict:
    coupon = expect(post(api, "coupons/assign", {"book_id": book["id"], "user_id": user_id}), 201, COUPON)
    assert (coupon["book_id"], coupon["state"], coupon["user_id"]) == (book["id"], "assigned", user_id)
    return coupon


def finished_export(api: Client, book: dict, *, stack: Stack) -> dict:
    started = expect(post(api, f"books/{book['id']}/exports", {}), 202, {"id", "status"})
    assert started["status"] == "queued", started

    def finished() -> dict | None:
        export = expect(get(api, f"exports/{started['id']}"), 200, EXPORT)
        return export if export["status"] in {"done", "failed"} else None

    return wait_until("the export", finished, stack=stack)


def webhook_for(api: Client, receiver: Receiver, path: str) -> dict:
    """An endpoint for every event type, at ``path`` on the receiver."""
    url = receiver.url(path)
    endpoint = expect(post(api, "webhooks", {"url": url, "events": [], "description": path}), 201, {*WEBHOOK, "secret"})
    assert (endpoint["url"], endpoint["events"], endpoint["is_active"]) == (url, [], True), endpoint
    assert endpoint["secret"].startswith("whsec_"), endpoint
    return endpoint


def send_test_event(api: Client, endpoint: dict) -> str:
    sent = expect(post(api, f"webhooks/{endpoint['id']}/test", {}), 202, {"message_id", "type", "status"})
    assert (sent["type"], sent["status"]) == ("webhook.test", "pending"), sent
    return sent["message_id"]


def received_at(receiver: Receiver, endpoint: dict) -> list[dict]:
    """What the endpoint's path received so far, each verified with its secret
    by the Standard Webhooks library, with the webhook-id it came with."""
    path = endpoint["url"].split(str(receiver.port), 1)[1]
    events = []
    for request in list(receiver.received):
        if request.path == path:
            payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
            assert request.headers["webhook-id"] == str(payload["id"]), request.headers
            assert request.headers["content-type"] == "application/json", request.headers
            events.append(payload)
    return events


def book_of(event: dict) -> int | None:
    return event["data"].get("book_id")


# --------------------------------------------------------------------------- the steps


def test_it_runs_in_production_mode(stack, api):
    plain = http_request(stack.port, "GET", "/api/v1/me", headers={"Authorization": f"Api-Key {stack.api_key}"})
    assert plain.status == 301 and plain.headers["location"] == f"https://127.0.0.1:{stack.port}/api/v1/me"
    assert http_request(stack.port, "GET", "/healthz").status == 200  # load balancers check over plain http

    me = expect(get(api, "me"), 200, {"partner", "api_key"})
    assert me["partner"]["name"] == PARTNER and set(me["partner"]) >= {"id", "name"}, me
    assert set(me["api_key"]) >= {"prefix", "name", "created_at"} and stack.api_key.startswith(me["api_key"]["prefix"])
    assert "max-age=31536000" in get(api, "me").headers["strict-transport-security"]

    ready = http_request(stack.port, "GET", "/readyz", headers=BEHIND_THE_PROXY)
    assert ready.status == 200, ready.body
    assert {name: ready.json()[name] for name in ("status", "database", "queue")} == {
        "status": "ok",
        "database": "up",
        "queue": "up",
    }
    stranger = Client(port=stack.port, key="not-a-key")
    expect_problem(stranger.send("GET", "me"), 401, "not_authenticated", authenticated=False)


def test_the_docs_and_the_original_addresses(stack):
    def fetch(path: str) -> Answer:
        return http_request(stack.port, "GET", path, headers=BEHIND_THE_PROXY)

    for old, new in [("/docs", "/api/docs/"), ("/redoc", "/api/redoc/"), ("/openapi.json", "/api/schema/?format=json")]:
        moved = fetch(old)
        assert (moved.status, moved.headers["location"]) == (301, new), (old, moved.status, moved.headers)
        page = fetch(new)
        assert page.status == 200, (new, page.body[:500])

    schema = fetch("/api/schema/?format=json").json()
    assert schema["openapi"].startswith("3.") and {"/api/v1/books", "/api/v1/events"} <= set(schema["paths"])
    swagger = fetch("/api/docs/")
    assert swagger.headers["content-type"].startswith("text/html")
    # Its scripts are production's static files, collected and served by WhiteNoise.
    scripts = re.findall(r'<script src="([^"]+)"', swagger.body.decode())
    assert scripts, swagger.body[:2000]
    for script in scripts:
        assert fetch(script).status == 200, script


def test_a_book_is_stocked_found_and_changed(api):
    book = stocked_book(
        api, "Spring ledger", charset="numeric", metadata={"season": "spring"}, assignment_ttl_seconds=3600
    )
    assert book["charset"] == "numeric" and book["assignment_ttl_seconds"] == 3600, book
    assert book["metadata"] == {"season": "spring"}, book
    uploaded = post(api, f"books/{book['id']}/codes/upload", {"codes": ["SPRING-VIP-1", "SPRING-VIP-2"]})
    assert expect(uploaded, 201) == {"created": 2}

    listed = expect(get(api, "books", name="LEDGER"), 200, NUMBERED_PAGE)
    assert [found["id"] for found in listed["results"]] == [book["id"]], listed
    changed = api.send("PATCH", f"books/{book['id']}", {"description": "Spring 2027", "metadata": {"season": "late"}})
    assert {name: expect(changed, 200, BOOK)[name] for name in ("description", "metadata", "charset")} == {
        "description": "Spring 2027",
        "metadata": {"season": "late"},
        "charset": "numeric",
    }
    detail = expect(get(api, f"books/{book['id']}"), 200, {*BOOK, "counts"})
    assert detail["counts"] == {"available": 22, "assigned": 0, "locked": 0, "redeemed": 0, "void": 0, "total": 22}
    coupons = expect(get(api, f"books/{book['id']}/coupons", page_size=100), 200, CURSOR_PAGE)["results"]
    assert len(coupons) == 22 and all(set(coupon) >= COUPON for coupon in coupons), coupons
    generated = {coupon["code"] for coupon in coupons} - {"SPRING-VIP-1", "SPRING-VIP-2"}
    assert len(generated) == 20 and all(re.fullmatch(r"\d{4}-\d{4}-\d{4}", code) for code in generated), generated


def test_a_coupon_from_its_assignment_to_its_redemption_and_back(api):
    book = stocked_book(api, "Checkout")
    code = assign(api, book, "customer-1")["code"]
    batch = expect(post(api, f"books/{book['id']}/coupons/assign", {"user_ids": ["c-2", "customer-1", "c-3"]}), 201)
    assert [result["user_id"] for result in batch["results"]] == ["c-2", "customer-1", "c-3"]
    assert batch["results"][1]["error"]["code"] == "assignment_limit_reached", batch
    given = {result["user_id"]: result["coupon"] for result in batch["results"] if "coupon" in result}
    assert set(given) == {"c-2", "c-3"} and all(set(c) >= COUPON and c["state"] == "assigned" for c in given.values())

    locked = expect(post(api, f"coupons/lock/{code}", {"user_id": "customer-1"}), 200, {*COUPON, "lock_id"})
    assert locked["state"] == "locked" and locked["locked_until"], locked
    unlocked = expect(post(api, f"coupons/unlock/{code}", {"user_id": "customer-1", "lock_id": locked["lock_id"]}), 200)
    assert (unlocked["state"], unlocked["locked_until"]) == ("assigned", None), unlocked
    lock_id = expect(post(api, f"coupons/lock/{code}", {"user_id": "customer-1"}), 200)["lock_id"]
    redeem = {"user_id": "customer-1", "lock_id": lock_id, "metadata": {"order_id": "A-1001"}}
    redeemed = expect(post(api, f"coupons/redeem/{code}", redeem), 200, {*COUPON, "redemption"})
    assert (redeemed["state"], redeemed["redemption_count"], redeemed["redemptions_remaining"]) == ("redeemed", 1, 0)
    redemption_id = redeemed["redemption"]["id"]

    redemption = expect(get(api, f"redemptions/{redemption_id}"), 200, REDEMPTION)
    assert {name: redemption[name] for name in REDEMPTION - {"created_at"}} == {
        "id": redemption_id,
        "code": code,
        "book_id": book["id"],
        "user_id": "customer-1",
        "metadata": {"order_id": "A-1001"},
        "rolled_back_at": None,
        "rollback_reason": None,
    }
    page = expect(get(api, f"coupons/{code}/redemptions"), 200, CURSOR_PAGE)
    assert [found["id"] for found in page["results"]] == [redemption_id]
    history = expect(get(api, f"coupons/{code}/history"), 200, CURSOR_PAGE)
    assert [event["action"] for event in history["results"]] == ["assign", "lock", "unlock", "lock", "redeem"]
    noted = api.send("PATCH", f"coupons/{code}", {"metadata": {"note": "first order"}})
    assert expect(noted, 200, COUPON)["metadata"] == {"note": "first order"}

    expect_problem(post(api, f"coupons/unassign/{code}", {"user_id": "customer-1"}), 409, "coupon_in_use")
    returned = expect(post(api, f"coupons/unassign/{given['c-2']['code']}", {"user_id": "c-2"}), 200, COUPON)
    assert (returned["state"], returned["user_id"], returned["assigned_at"]) == ("available", None, None)

    held = expect(get(api, f"books/{book['id']}/coupons", state="assigned"), 200, CURSOR_PAGE)["results"]
    assert [(coupon["code"], coupon["user_id"]) for coupon in held] == [(given["c-3"]["code"], "c-3")]
    counts = {"available": 18, "assigned": 1, "locked": 0, "redeemed": 1, "void": 0, "total": 20}
    assert expect(get(api, f"books/{book['id']}"), 200, {*BOOK, "counts"})["counts"] == counts
    stats = expect(get(api, f"books/{book['id']}/stats", days=7), 200, {"counts", "days", "days_left"})
    assert stats["counts"] == counts and len(stats["days"]) == 7, stats
    # Summed over the days: the test may run across midnight (UTC).
    assert sum(day["assignments"] for day in stats["days"]) == 3, stats
    assert sum(day["redemptions"] for day in stats["days"]) == 1, stats
    assert stats["days_left"] == pytest.approx(18 / (3 / 7)), stats


def test_an_assignment_past_its_book_ttl_returns_to_the_pool(api):
    book = stocked_book(api, "Short holds", codes=1, assignment_ttl_seconds=1)
    code = assign(api, book, "slow-user")["code"]
    time.sleep(1.5)

    coupon = expect(get(api, f"coupons/{code}"), 200, COUPON)

    assert (coupon["state"], coupon["user_id"], coupon["assigned_at"]) == ("available", None, None), coupon
    expect_problem(post(api, f"coupons/lock/{code}", {"user_id": "slow-user"}), 409, "coupon_not_held")
    assert assign(api, book, "next-user")["code"] == code  # the only coupon: back in the draw


def test_a_retry_with_the_same_idempotency_key_replays_the_answer(api):
    book = stocked_book(api, "Retries", codes=5)
    request = {"book_id": book["id"], "user_id": "retrying-user"}
    key = str(uuid.uuid4())

    first = post(api, "coupons/assign", request, key=key)
    again = post(api, "coupons/assign", request, key=key)

    expect(first, 201, COUPON)
    assert "idempotent-replayed" not in first.headers
    assert (again.status, again.body, again.headers.get("idempotent-replayed")) == (201, first.body, "true")
    reused = post(api, "coupons/assign", {**request, "user_id": "another"}, key=key)
    expect_problem(reused, 422, "idempotency_key_reused")
    held = expect(get(api, "users/retrying-user/coupons", book_id=book["id"]), 200, CURSOR_PAGE)
    assert [coupon["code"] for coupon in held["results"]] == [first.json()["code"]]


def test_an_export_is_written_by_the_worker_and_downloaded(stack, api):
    book = stocked_book(api, "Exported", codes=25)
    coupon = assign(api, book, "exported-user")

    export = finished_export(api, book, stack=stack)

    assert (export["status"], export["rows"]) == ("done", 25), export
    # Behind the proxy: the link is https, to the host the request named.
    assert export["download_url"] == f"https://127.0.0.1:{stack.port}/api/v1/exports/{export['id']}/download"
    download = api.send("GET", f"exports/{export['id']}/download", headers={"Accept": "text/csv"})
    assert download.status == 200 and download.headers["content-type"].startswith("text/csv"), download.headers
    header, *rows = download.body.decode().splitlines()
    assert header == "code,state,user_id,assigned_at,redemption_count"
    assert len(rows) == 25
    assert next(row for row in rows if row.startswith(f"{coupon['code']},")).split(",")[1:3] == [
        "assigned",
        "exported-user",
    ]


def test_webhooks_deliver_the_feed_signed_and_in_order(stack, api):
    endpoint = webhook_for(api, stack.receiver, "/hooks/journey")
    assert expect(get(api, f"webhooks/{endpoint['id']}"), 200, WEBHOOK)["url"] == endpoint["url"]
    test_id = send_test_event(api, endpoint)
    [test_event] = wait_until("the test event", lambda: received_at(stack.receiver, endpoint), stack=stack)
    assert (test_event["id"], test_event["type"]) == (test_id, "webhook.test")
    assert test_event["data"]["webhook_id"] == endpoint["id"]

    # A partner's changes, one event each.
    book = stocked_book(api, "Hooked", codes=5)
    code = assign(api, book, "hooked-user")["code"]
    lock_id = expect(post(api, f"coupons/lock/{code}", {"user_id": "hooked-user"}), 200)["lock_id"]
    expect(post(api, f"coupons/unlock/{code}", {"user_id": "hooked-user", "lock_id": lock_id}), 200)
    redeemed = expect(post(api, f"coupons/redeem/{code}", {"user_id": "hooked-user"}), 200)
    expect(post(api, f"redemptions/{redeemed['redemption']['id']}/rollback", {"reason": "cancelled"}), 200)
    expect(post(api, f"coupons/unassign/{code}", {"user_id": "hooked-user"}), 200)
    types = [
        "book.codes_added",
        "coupon.assigned",
        "coupon.locked",
        "coupon.unlocked",
        "coupon.redeemed",
        "coupon.redemption_rolled_back",
        "coupon.unassigned",
    ]

    # The feed, polled with `after` two at a time, lists them once each, oldest first.
    def the_whole_feed() -> list[dict] | None:
        feed, after = [], {}
        while page := expect(get(api, "events", book_id=book["id"], page_size=2, **after), 200, {"next", "results"})[
            "results"
        ]:
            feed += page
            after = {"after": page[-1]["id"]}
        return feed if len(feed) >= len(types) else None

    feed = wait_until("the events in the feed", the_whole_feed, stack=stack)
    assert [event["type"] for event in feed] == types, feed
    assert all(set(event) >= EVENT and book_of(event) == book["id"] for event in feed), feed
    assert "lock_id" not in feed[2]["data"] and feed[4]["data"]["redemption"]["id"] == redeemed["redemption"]["id"]

    # The worker delivers them, signed, in the feed's order, each exactly as the feed shows it. (The
    # housekeeping job's events of other books may come in between: an earlier step's expired assignment.)
    def delivered() -> list[dict] | None:
        received = received_at(stack.receiver, endpoint)
        events = [event for event in received if event["type"] != "webhook.test" and book_of(event) == book["id"]]
        return events if len(events) >= len(feed) else None

    assert wait_until("the deliveries", delivered, stack=stack, nudge=lambda: send_test_event(api, endpoint)) == feed

    def all_succeeded() -> list[dict] | None:
        attempts = expect(get(api, f"webhooks/{endpoint['id']}/deliveries", page_size=200), 200, CURSOR_PAGE)
        by_message = {attempt["message_id"]: attempt for attempt in attempts["results"]}
        if not {str(event["id"]) for event in feed} | {test_id} <= set(by_message):
            return None
        return list(by_message.values())

    attempts = wait_until("the attempts recorded", all_succeeded, stack=stack)
    assert all(set(attempt) >= ATTEMPT for attempt in attempts), attempts
    assert {(a["delivery_status"], a["status_code"], a["error"]) for a in attempts} == {("succeeded", 200, "")}


def test_a_webhook_endpoint_is_managed_and_its_secret_rotated(stack, api):
    endpoint = webhook_for(api, stack.receiver, "/hooks/rotated")
    rotated = expect(post(api, f"webhooks/{endpoint['id']}/rotate-secret", {}), 200, {*WEBHOOK, "secret"})
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]

    message_id = send_test_event(api, endpoint)

    def the_test_event():
        return next((r for r in list(stack.receiver.received) if r.headers.get("webhook-id") == message_id), None)

    request = wait_until("the test event after the rotation", the_test_event, stack=stack)
    # For 24 hours both secrets sign each delivery.
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(request.body, request.headers)["id"] == message_id

    changed = api.send("PATCH", f"webhooks/{endpoint['id']}", {"events": ["coupon.redeemed"], "is_active": False})
    assert {name: expect(changed, 200, WEBHOOK)[name] for name in ("events", "is_active")} == {
        "events": ["coupon.redeemed"],
        "is_active": False,
    }
    assert endpoint["id"] in {found["id"] for found in expect(get(api, "webhooks"), 200)}
    deleted = api.send("DELETE", f"webhooks/{endpoint['id']}")
    assert deleted.status == 204, deleted.body
    expect_problem(get(api, f"webhooks/{endpoint['id']}"), 404, "not_found")


def test_staff_find_it_all_in_the_admin(stack, api):
    book = stocked_book(api, "Back office", codes=5)
    coupon = assign(api, book, "office-user")
    export = finished_export(api, book, stack=stack)
    endpoint = webhook_for(api, stack.receiver, "/hooks/back-office")
    message_id = send_test_event(api, endpoint)
    wait_until("the test event", lambda: received_at(stack.receiver, endpoint), stack=stack)
    staff = StaffBrowser.logged_in(stack)

    pages = {
        "/admin/": ["Coupons", "Webhook endpoints"],
        f"/admin/books/book/?q={book['name'].replace(' ', '+')}": [book["name"]],
        f"/admin/coupons/coupon/?q={coupon['code']}": [coupon["code"], "office-user"],
        f"/admin/coupons/couponevent/?q={coupon['code']}": [coupon["code"], "office-user"],
        "/admin/exports/export/": [f"Codes of book {book['id']} ({book['name']})", str(export["rows"])],
        "/admin/webhooks/webhookendpoint/": [endpoint["url"]],
        f"/admin/webhooks/webhookdelivery/?q={message_id}": [message_id, "webhook.test"],
    }
    for path, expected in pages.items():
        page = staff.get(path)
        assert page.status == 200, (path, page.status, page.body[:500])
        missing = [text for text in expected if text not in page.body.decode()]
        assert not missing, (path, missing)
    exported = staff.get(f"/admin/exports/export/{export['id']}/download/")
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv"), exported.headers
    assert f"{coupon['code']},assigned,office-user" in exported.body.decode()


def test_an_end_user_is_erased_and_the_webhook_says_so(stack, api):
    endpoint = webhook_for(api, stack.receiver, "/hooks/erasure")
    book = stocked_book(api, "Forgotten", codes=3)
    code = assign(api, book, "forgotten-user")["code"]
    redeem = {"user_id": "forgotten-user", "metadata": {"customer": "forgotten-user"}}
    expect(post(api, f"coupons/redeem/{code}", redeem), 200)

    erased = expect(post(api, "users/forgotten-user/erase", {}), 200, {"coupons", "events", "redemptions"})

    assert erased == {"coupons": 1, "events": 2, "redemptions": 1}, erased
    history = expect(get(api, f"coupons/{code}/history"), 200, CURSOR_PAGE)["results"]
    pseudonym = history[0]["user_id"]
    assert re.fullmatch(r"erased-[0-9a-f]{32}", pseudonym) and {e["user_id"] for e in history} == {pseudonym}
    coupon = expect(get(api, f"coupons/{code}"), 200, COUPON)
    assert (coupon["state"], coupon["user_id"]) == ("redeemed", pseudonym), coupon
    assert expect(get(api, "users/forgotten-user/coupons"), 200, CURSOR_PAGE)["results"] == []

    def erasure_sent() -> list[dict] | None:
        return [event for event in received_at(stack.receiver, endpoint) if event["type"] == "user.erased"]

    [event] = wait_until(
        "the erasure's webhook", erasure_sent, stack=stack, nudge=lambda: send_test_event(api, endpoint)
    )
    assert event["data"] == {"user_id": pseudonym, **erased}
    access_log = stack.gunicorn.log.read_text(errors="replace")
    assert "/users/[redacted]/erase" in access_log and "forgotten-user/erase" not in access_log


def test_no_server_or_worker_logged_an_error(stack):
    for log in (stack.gunicorn.log, stack.worker.log):
        assert "Traceback" not in log.read_text(errors="replace"), stack.logs()


# --------------------------------------------------------------------------- the admin, as a browser uses it


@dataclasses.dataclass
class StaffBrowser:
    port: int
    cookies: dict[str, str]

    @classmethod
    def logged_in(cls, stack: Stack) -> StaffBrowser:
        """Signed in through the login form, with the CSRF token it gives."""
        browser = cls(port=stack.port, cookies={})
        form = browser.get("/admin/login/?next=/admin/")
        assert form.status == 200, form.body[:500]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.body)
        assert token and "csrftoken" in browser.cookies, (form.headers, form.body[:500])
        fields = {
            "csrfmiddlewaretoken": token.group(1).decode(),
            "username": STAFF_USER,
            "password": stack.staff_password,
            "next": "/admin/",
        }
        signed_in = browser.send("POST", "/admin/login/?next=/admin/", urlencode(fields).encode())
        assert (signed_in.status, signed_in.headers.get("location")) == (302, "/admin/"), signed_in.body[:1000]
        assert "sessionid" in browser.cookies
        return browser

    def get(self, path: str) -> Answer:
        return self.send("GET", path)

    def send(self, method: str, path: str, body: bytes | None = None) -> Answer:
        origin = f"https://127.0.0.1:{self.port}"
        headers = {
            **BEHIND_THE_PROXY,
            "Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items()),
            "Origin": origin,
            "Referer": f"{origin}{path}",
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = http_request(self.port, method, path, body=body, headers=headers)
        self.cookies.update(answer.cookies)
        return answer
