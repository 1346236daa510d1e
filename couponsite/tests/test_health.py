import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_is_200_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


def test_healthz_is_503_when_the_database_is_down():
    # A real process whose database is a port nobody listens on.
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "response = Client().get('/healthz');"
        "print(response.status_code, response.json()['database'])"
    )
    environment = dict(os.environ)
    environment.update(
        DJANGO_ENV="test",
        DJANGO_SETTINGS_MODULE="couponsite.settings",
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing",
        CONN_MAX_AGE="0",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.stdout.split() == ["503", "down"], result.stderr


QUEUE_IDLE = {"waiting": 0, "running": 0, "stalled": 0, "failed": 0, "oldest_waiting_seconds": None}


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_readyz_is_200_when_the_database_answers_and_redis_is_not_configured(client, settings):
    settings.REDIS_URL = ""

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "queue": "up", "queue_jobs": QUEUE_IDLE}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_readyz_is_503_when_redis_does_not_answer_while_healthz_stays_200(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "up",
        "redis": "down",
        "queue": "up",
        "queue_jobs": QUEUE_IDLE,
    }
    assert client.get("/healthz").status_code == 200


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_readyz_reports_redis_up_when_it_answers(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "up",
        "redis": "up",
        "queue": "up",
        "queue_jobs": QUEUE_IDLE,
    }


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_readyz_counts_the_queues_jobs_and_stays_ready_with_failed_ones(client, settings):
    settings.REDIS_URL = ""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, status) VALUES"
            " ('default', 'old.failure', 'failed'), ('default', 'waiting.one', 'todo')"
        )
        cursor.execute(
            "UPDATE procrastinate_events SET at = now() - interval '90 seconds'"
            " WHERE type = 'deferred' AND job_id = (SELECT id FROM procrastinate_jobs WHERE task_name = 'waiting.one')"
        )

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["queue"] == "up"
    jobs = response.json()["queue_jobs"]
    assert (jobs["waiting"], jobs["failed"], jobs["running"], jobs["stalled"]) == (1, 1, 0, 0)
    assert 90 <= jobs["oldest_waiting_seconds"] < 120


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_readyz_is_503_when_the_queues_tables_do_not_answer(client, settings):
    settings.REDIS_URL = ""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE procrastinate_workers RENAME TO procrastinate_workers_away")
    try:
        response = client.get("/readyz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE procrastinate_workers_away RENAME TO procrastinate_workers")

    assert response.status_code == 503
    assert (response.json()["database"], response.json()["queue"]) == ("up", "down")
