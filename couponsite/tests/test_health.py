import os
import subprocess
import sys
from pathlib import Path

import pytest

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
