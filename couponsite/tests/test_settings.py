"""Production mode refuses unsafe settings; each check starts a fresh process."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 30 + "-Strong-Random-Secret-Key-For-Tests-0123456789"
PRODUCTION = {"DJANGO_ENV": "production", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "coupons.example.com"}


def django(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {*PRODUCTION, "DEBUG"}}
    environment.update(env)
    # A database that is never contacted: these commands must not need one.
    environment.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_without_secret_key_refuses_to_start():
    result = django("check", **{**PRODUCTION, "SECRET_KEY": ""})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_without_allowed_hosts_refuses_to_start():
    result = django("check", **{**PRODUCTION, "ALLOWED_HOSTS": ""})

    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_is_the_default_mode():
    result = django("check")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug():
    result = django("check", **PRODUCTION, DEBUG="true")

    assert result.returncode != 0
    assert "DEBUG" in result.stderr


def test_check_deploy_is_clean_in_production_mode():
    result = django("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_logs_are_json_lines():
    code = "import logging, django; django.setup(); logging.getLogger('probe').warning('hello')"
    environment = {k: v for k, v in os.environ.items() if k not in {*PRODUCTION, "DEBUG"}}
    environment.update(
        **PRODUCTION,
        DJANGO_SETTINGS_MODULE="couponsite.settings",
        DATABASE_URL="postgres://postgres@127.0.0.1:1/unused",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    (line,) = [line for line in result.stderr.splitlines() if "hello" in line]
    record = json.loads(line)
    assert (record["level"], record["name"], record["message"]) == ("WARNING", "probe", "hello")


def variables_read() -> set[str]:
    settings_source = (ROOT / "couponsite" / "settings.py").read_text()
    gunicorn_source = (ROOT / "gunicorn.conf.py").read_text()
    read = set(re.findall(r'env\.(?:str|int|bool|list|db)\(\s*"([A-Z_]+)"', settings_source))
    return read | set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', gunicorn_source))


@pytest.mark.parametrize("example", [".env.example", ".env.production.example"])
def test_each_env_example_documents_every_variable_the_service_reads(example):
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / example).read_text(), re.MULTILINE))

    assert len(variables_read()) > 20
    assert variables_read() - documented == set()


def test_the_development_example_gives_a_working_development_run(tmp_path):
    """Copied to .env as its header says, it configures a development run."""
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DJANGO_ENV, settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS)"
    )
    values = dict(
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    environment = {k: v for k, v in os.environ.items() if k not in values and k not in {"DJANGO_ENV", "DATABASE_URL"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environment, **values, "DJANGO_SETTINGS_MODULE": "couponsite.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.stdout.split() == ["development", "True", "False", "0"], result.stderr


def retention_settings(**env: str) -> subprocess.CompletedProcess:
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.EVENT_RETENTION_DAYS, settings.WEBHOOK_DELIVERY_RETENTION_DAYS, "
        "settings.QUEUE_JOB_RETENTION_HOURS)"
    )
    names = {"EVENT_RETENTION_DAYS", "WEBHOOK_DELIVERY_RETENTION_DAYS", "QUEUE_JOB_RETENTION_HOURS"}
    environment = {k: v for k, v in os.environ.items() if k not in names}
    environment.update(DJANGO_ENV="test", DJANGO_SETTINGS_MODULE="couponsite.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_retention_defaults_and_kept_forever_with_0_or_empty():
    defaults = retention_settings()
    forever = retention_settings(
        EVENT_RETENTION_DAYS="", WEBHOOK_DELIVERY_RETENTION_DAYS="0", QUEUE_JOB_RETENTION_HOURS=" "
    )
    chosen = retention_settings(EVENT_RETENTION_DAYS="730", WEBHOOK_DELIVERY_RETENTION_DAYS="7")

    assert defaults.stdout.split() == ["400", "30", "72"], defaults.stderr
    assert forever.stdout.split() == ["None", "None", "None"], forever.stderr
    assert chosen.stdout.split() == ["730", "7", "72"], chosen.stderr


@pytest.mark.parametrize("value", ["366", "90", "-1", "1.5", "a year"])
def test_an_event_retention_shorter_than_the_statistics_window_or_not_a_number_is_refused(value):
    result = retention_settings(EVENT_RETENTION_DAYS=value)

    assert result.returncode != 0
    assert "EVENT_RETENTION_DAYS must be a whole number of at least 367" in result.stderr
