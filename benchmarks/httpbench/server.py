"""gunicorn from gunicorn.conf.py in production mode, on the scratch database."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scratch import ROOT

# High enough that the load is never throttled: the benchmark measures the
# work of a request, not the limiter's refusals (the counting still runs).
UNTHROTTLED = "100000000/min"


@dataclasses.dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def workers(self) -> int:
        """gunicorn's worker processes: the master's children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return len(children.read_text().split()) if children.exists() else 0

    def worker_class(self) -> str:
        """As gunicorn logs it at start ("Using worker: sync")."""
        for line in self.log.read_text(errors="replace").splitlines():
            if "Using worker: " in line:
                return line.split("Using worker: ", 1)[1].strip()
        return "unknown"


def database_url(database: dict[str, Any]) -> str:
    """DATABASE_URL for Django's settings of the scratch database. A socket
    folder (the embedded server) goes in the path, where django-environ reads it."""
    password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    user = f"{quote(database['USER'], safe='')}{password}@"
    host = str(database["HOST"])
    if host.startswith("/"):
        return f"postgres://{user}/{quote(host, safe='')}/{database['NAME']}"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgres://{user}{host}{port}/{database['NAME']}"


def production_env(*, database: dict[str, Any], redis_url: str) -> dict[str, str]:
    """The environment of a production deployment, pointed at the scratch database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}  # gunicorn.conf.py's defaults
    for name in ("DEBUG", "LOG_LEVEL", "LOG_FORMAT", "CONN_MAX_AGE"):
        env.pop(name, None)  # production's own defaults, not whatever this shell has
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url(database),
        REDIS_URL=redis_url,
        SECURE_SSL_REDIRECT="false",
        API_RATE=UNTHROTTLED,
        FAILED_LOOKUP_LIMIT=UNTHROTTLED,
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*, env: dict[str, str], log: Path, workers: int | None) -> Server:
    """Start gunicorn in a session of its own (so that a Ctrl-C reaches us, and
    we stop it in order) and wait until /healthz answers."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    if workers:
        command += ["--workers", str(workers)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:  # the log of the last run only
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process=process, url=f"http://127.0.0.1:{port}", log=log)
    try:
        wait_healthy(server)
    except BaseException:
        stop(server)
        raise
    return server


def wait_healthy(server: Server, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}; see {server.log}")
        if get_status(f"{server.url}/healthz") == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s; see {server.log}")


def get_status(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The status of a GET, or None when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own loopback URL
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def stop(server: Server) -> None:
    """Graceful stop (SIGTERM), then SIGKILL for the process group if it hangs."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=35)  # gunicorn.conf.py: graceful_timeout = 30
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)  # the session we started: workers left behind, if any
    server.process.wait()
