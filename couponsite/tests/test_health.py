import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

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


@pytest.mark.django_db(transaction=True)
def test_readyz_is_200_when_the_database_answers_and_redis_is_not_configured(client, settings):
    settings.REDIS_URL = ""

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_redis_does_not_answer_while_healthz_stays_200(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "up", "redis": "down"}
    assert client.get("/healthz").status_code == 200


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_redis_up_when_it_answers(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "redis": "up"}
