"""/metrics: protected by a bearer token, counting requests, transitions and
throttles, and exact across gunicorn's worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from http.client import HTTPConnection

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from api.tests.conftest import http, make_tenant, post
from coupons.services import coupon_assign_random, coupon_lock, locks_release_expired
from couponsite.actors import Actor
from couponsite.metrics import DATABASE_GAUGES, DatabaseGauge, register_database_gauge
from couponsite.tests.racing import race
from couponsite.tests.servers import database_url, free_port
from redemptions.services import coupon_redeem

TOKEN = "t" * 40
ACTOR = Actor.system("metrics-test")


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, by name and sorted labels."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def transitions(samples, name: str) -> float:
    return samples.get(("coupons_coupon_transitions_total", (("transition", name),)), 0.0)


@override_settings(METRICS_TOKEN="")
def test_metrics_answer_404_while_no_token_is_set(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.django_db
def test_metrics_answer_only_to_the_token(client):
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": TOKEN}):
        refused = client.get("/metrics", **header)
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"].startswith("Bearer")
        assert b"coupons_" not in refused.content

    answered = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert answered.status_code == 200
    assert answered["Content-Type"].startswith("text/plain; version=")
    assert b"coupons_http_requests_total" in answered.content


def test_a_short_metrics_token_is_refused_in_production(monkeypatch):
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "k" * 60,
        "ALLOWED_HOSTS": "example.com",
        "METRICS_TOKEN": "short",
    }
    checked = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "couponsite.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode != 0
    assert "METRICS_TOKEN must be 32 or more" in checked.stderr


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.django_db
def test_requests_are_counted_and_timed_by_route_not_path(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/page-1")
    client.get("/no/such/page-2")
    probed = client.generic("PROBE", "/healthz").status_code
    after = scrape(client)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("coupons_http_requests_total", route="healthz", method="GET", status="200") == 2
    assert delta("coupons_http_request_duration_seconds_count", route="healthz", method="GET") == 2
    assert delta("coupons_http_request_duration_seconds_sum", route="healthz", method="GET") > 0
    assert delta("coupons_http_requests_total", route="<unmatched>", method="GET", status="404") == 2
    assert delta("coupons_http_requests_total", route="healthz", method="other", status=str(probed)) == 1
    assert not [key for key in after if "page-1" in str(key) or "PROBE" in str(key)]


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.django_db(transaction=True)
def test_committed_transitions_are_counted_and_rolled_back_ones_are_not(client):
    tenant = make_tenant()
    partner, book = tenant.partner, tenant.book
    before = scrape(client)

    coupon = coupon_assign_random(partner=partner, book_id=book.pk, user_id="u1", actor=ACTOR)
    coupon_redeem(partner=partner, code=coupon.code, user_id="u1", actor=ACTOR)
    with pytest.raises(RuntimeError), transaction.atomic():
        coupon_assign_random(partner=partner, book_id=book.pk, user_id="u2", actor=ACTOR)
        raise RuntimeError("rolled back")
    after = scrape(client)

    assert transitions(after, "assign") - transitions(before, "assign") == 1
    assert transitions(after, "redeem_fully") - transitions(before, "redeem_fully") == 1


@override_settings(METRICS_TOKEN=TOKEN, LOCK_TIMEOUT_SECONDS=0)
@pytest.mark.django_db(transaction=True)
def test_expired_locks_are_a_gauge_read_when_scraped_and_their_release_is_counted(client):
    tenant = make_tenant()
    for user in ("u1", "u2"):
        coupon = coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id=user, actor=ACTOR)
        coupon_lock(partner=tenant.partner, code=coupon.code, user_id=user, actor=ACTOR)
    time.sleep(0.01)
    before = scrape(client)

    assert before[("coupons_expired_locks_unreleased", ())] == 2

    assert locks_release_expired() == 2
    after = scrape(client)
    assert after[("coupons_expired_locks_unreleased", ())] == 0
    assert transitions(after, "expire_lock") - transitions(before, "expire_lock") == 2


@override_settings(METRICS_TOKEN=TOKEN, METRICS_QUERY_TIMEOUT_MS=200)
@pytest.mark.django_db
def test_a_database_gauge_that_fails_or_is_slow_is_left_out_and_the_rest_answers(client, monkeypatch):
    monkeypatch.setattr("couponsite.metrics.DATABASE_GAUGES", dict(DATABASE_GAUGES))
    register_database_gauge(DatabaseGauge(name="broken", documentation="d", sql="SELECT * FROM no_such_table"))
    register_database_gauge(DatabaseGauge(name="slow", documentation="d", sql="SELECT pg_sleep(5)"))
    register_database_gauge(
        DatabaseGauge(
            name="jobs",
            documentation="d",
            labels=("status",),
            sql="SELECT * FROM (VALUES ('todo', 3), ('failed', 1)) v",
        )
    )

    started = time.monotonic()
    samples = scrape(client)

    assert time.monotonic() - started < 3
    assert samples[("jobs", (("status", "todo"),))] == 3
    assert samples[("jobs", (("status", "failed"),))] == 1
    assert not [key for key in samples if key[0] in {"broken", "slow"}]
    assert ("coupons_expired_locks_unreleased", ()) in samples


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_the_task_queues_jobs_are_counted_by_status(client):
    from procrastinate.contrib.django import app

    # Three tasks: each periodic task's queueing lock admits one job at a time.
    for task in (
        "api.tasks.purge_rate_counters",
        "api.tasks.purge_idempotency_keys",
        "coupons.tasks.release_expired_locks",
    ):
        app.configure_task(task).defer(timestamp=int(time.time()))
    try:
        assert scrape(client)[("queue_jobs", (("status", "todo"),))] == 3
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")


@override_settings(METRICS_TOKEN=TOKEN, FAILED_LOOKUP_LIMIT="2/min")
@pytest.mark.usefixtures("whole_window")
@pytest.mark.django_db
def test_throttled_requests_are_counted_by_limit_and_by_route(client):
    tenant = make_tenant()
    before = scrape(client)

    statuses = [
        post(tenant.client, f"/api/v1/coupons/lock/GUESS-{i}", {"user_id": "prober"}).status_code for i in range(3)
    ]
    after = scrape(client)

    assert statuses == [404, 404, 429]
    key = ("coupons_throttled_total", (("limit", "user_lookups"),))
    assert after[key] - before.get(key, 0.0) == 1
    route = (
        "coupons_http_requests_total",
        (("method", "POST"), ("route", "api/v1/coupons/lock/<str:code>"), ("status", "429")),
    )
    assert after[route] - before.get(route, 0.0) == 1


# --- gunicorn: several worker processes, one set of counts -------------------


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    """gunicorn.conf.py with three workers on the test database; yields its port and metrics folder."""
    port = free_port()
    metrics_folder = tmp_path / "metrics"
    metrics_folder.mkdir()
    (metrics_folder / "counter_1.db").write_bytes(b"a previous run's file")
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_folder),
        "METRICS_TOKEN": TOKEN,
        "API_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if _get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield port, metrics_folder
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_metrics_add_up_every_gunicorn_worker_exactly(gunicorn):
    port, metrics_folder = gunicorn
    tenant = make_tenant()  # five coupons
    url = f"http://127.0.0.1:{port}/api/v1/coupons/assign"

    answers = race(
        lambda i: http("POST", url, key=tenant.key, body={"book_id": tenant.book.pk, "user_id": f"user-{i}"}),
        times=30,
        workers=10,
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201] * 5 + [409] * 25

    # Several workers wrote counts (one file each), and none of the previous run's is left.
    writers = {path.name for path in metrics_folder.glob("counter_*.db")}
    assert "counter_1.db" not in writers
    assert len(writers) >= 2, writers
    # Any worker answers for all of them: each scrape sees every request.
    for _ in range(3):
        status, text = _get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        samples = parse(text)
        assigns = (("method", "POST"), ("route", "api/v1/coupons/assign"))
        assert samples[("coupons_http_requests_total", (*assigns, ("status", "201")))] == 5
        assert samples[("coupons_http_requests_total", (*assigns, ("status", "409")))] == 25
        assert samples[("coupons_http_request_duration_seconds_count", assigns)] == 30
        assert transitions(samples, "assign") == 5
