"""Real servers for tests: the repository's ``gunicorn.conf.py`` on a free
local port and the task queue's worker, with the environment the test gives
them (production's, from ``production_env``), on a scratch database; and an
HTTP client that speaks to them as the proxy in front of production would."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connections
from psycopg import sql

from couponsite.tests.servers import database_url

# Variables of the shell that would change the servers' settings: a test says
# what it wants instead.
NOT_INHERITED = ("DJANGO_", "DATABASE_", "QUEUE_DATABASE_", "GUNICORN_", "REDIS_", "DEBUG")


@dataclasses.dataclass
class Server:
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def workers(self) -> list[int]:
        """The master's worker processes now (Linux)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


def start_gunicorn(server: Server) -> None:
    """Start it and wait until ``/healthz`` answers 200."""
    with server.log.open("wb") as log:
        server.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=settings.BASE_DIR,
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_healthy(server)


def stop_gunicorn(server: Server) -> None:
    stop_process(server.process)


def healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False


def wait_until_healthy(server: Server, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.process.returncode}:\n{server.log_tail()}")
        if healthy(server.port):
            return
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer /healthz within {seconds:.0f} s:\n{server.log_tail()}")


def stop_process(process: subprocess.Popen | None, *, grace: float = 40) -> None:
    """SIGTERM, as a deployment stops a server; SIGKILL for its whole session
    (it was started in one of its own) if it has not stopped in ``grace`` seconds."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever it left behind
    process.wait(timeout=10)


# --------------------------------------------------------------------------- production's environment


def production_env(*, database_url: str, port: int, run: Path, **values: str) -> dict[str, str]:
    """The environment of a production deployment (``DJANGO_ENV=production``,
    a random ``SECRET_KEY``, ``ALLOWED_HOSTS``) on ``database_url``, gunicorn
    bound to ``port`` with its control socket in the folder ``run``; ``values``
    on top."""
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith(NOT_INHERITED)},
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_CONTROL_SOCKET": str(run / "gunicorn.ctl"),
        **values,
    }


def manage(*arguments: str, env: dict[str, str]) -> str:
    """``manage.py`` in a process of its own, with ``env``; its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty database on the server the tests use (``DATABASE_URL``'s,
    else the embedded one), dropped afterwards; yields its ``DATABASE_URL``."""
    default = connections["default"]
    default.get_connection_params()  # starts the embedded server, if it is the one, and names its socket folder
    db = default.settings_dict
    server = {"host": db["HOST"], "port": db["PORT"] or None, "user": db["USER"], "password": db["PASSWORD"] or None}
    name = f"{prefix}_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(**server, dbname="postgres", autocommit=True) as conn:
        conn.execute(drop)  # a killed run's
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url({**db, "NAME": name})
    finally:
        with psycopg.connect(**server, dbname="postgres", autocommit=True) as conn:
            conn.execute(drop)


# --------------------------------------------------------------------------- the queue's worker


@dataclasses.dataclass
class QueueWorker:
    """``manage.py procrastinate worker``, as production runs it beside gunicorn."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def assert_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            pytest.fail(f"the queue worker is not running:\n{self.log_tail()}")


def start_queue_worker(worker: QueueWorker) -> None:
    with worker.log.open("wb") as log:
        worker.process = subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker"],
            cwd=settings.BASE_DIR,
            env=worker.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_queue_worker(worker: QueueWorker) -> None:
    stop_process(worker.process, grace=30)


# --------------------------------------------------------------------------- a client


# Production redirects plain HTTP to HTTPS: the proxy in front says it was HTTPS.
BEHIND_THE_PROXY = {"X-Forwarded-Proto": "https"}


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    cookies: dict[str, str] = dataclasses.field(default_factory=dict)  # set by the answer

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            return self.json().get("code") if self.status >= 400 else None
        except ValueError:
            return None


def http_request(
    port: int, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """One request to 127.0.0.1:``port``, on a connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        cookies = {}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookies.update((key, morsel.value) for key, morsel in SimpleCookie(value).items())
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, headers, response.read(), cookies)
    finally:
        conn.close()


@dataclasses.dataclass
class Client:
    """A partner's backend: JSON to ``/api/v1/`` with its API key."""

    port: int
    key: str

    def send(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = {
            "Authorization": f"Api-Key {self.key}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            **BEHIND_THE_PROXY,
            **({"Idempotency-Key": idempotency_key} if idempotency_key else {}),
            **(headers or {}),
        }
        payload = json.dumps(body).encode() if body is not None else None
        return http_request(self.port, method, f"/api/v1/{path}", body=payload, headers=sent)
