#!/usr/bin/env python3
"""The two commands of the README, needing nothing but Python 3.11+.

    python3 dev.py serve   # install, migrate, demo data, a queue worker, serve on 127.0.0.1:8000
    python3 dev.py test    # install, run the whole test suite (pytest args pass through)
    python3 dev.py stopdb  # stop the embedded PostgreSQL

Each creates ``.venv`` when missing and reinstalls the pinned requirements when
a requirements file changed since the last install.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# Where the embedded PostgreSQL keeps its data, as the settings read it.
PGDATA = Path(os.environ.get("EMBEDDED_PGDATA", ROOT / "var" / "pgdata"))
PYTHON = VENV / "bin" / "python"
CHROMIUM = Path("/usr/bin/chromium")


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def install(requirements: str) -> None:
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = sorted(ROOT.glob("requirements*.txt"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files) + requirements.encode()).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing {requirements}", flush=True)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements)
    stamp.write_text(digest)


def django_env(mode: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_ENV", mode)
    env.update(extra)
    return env


def serve(args: list[str]) -> None:
    install("requirements.txt")
    env = django_env("development", DEBUG=os.environ.get("DEBUG", "true"))
    manage = (PYTHON, "manage.py")
    run(*manage, "migrate", "--no-input", env=env)
    run(*manage, "ensure_demo_data", env=env)
    address = args[0] if args else "127.0.0.1:8000"
    # The task queue's worker (housekeeping, exports) beside the server, each
    # in a process group of its own that this command stops as a whole on
    # Ctrl-C or SIGTERM (runserver's reloader runs the server in a child).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    children = [
        subprocess.Popen([*map(str, manage), "procrastinate", "worker"], cwd=ROOT, env=env, start_new_session=True),
        subprocess.Popen([*map(str, manage), "runserver", address], cwd=ROOT, env=env, start_new_session=True),
    ]
    code = 130
    try:
        code = children[1].wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop_groups(children)
    sys.exit(code)


def stop_groups(children: list[subprocess.Popen]) -> None:
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium (no browser download): install
    it with apt when it is missing and we are root; otherwise say why not."""
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0:
        print(
            f"{CHROMIUM} is missing and only root can install it (apt-get install chromium): "
            "the browser tests will be skipped here (under CI they fail).",
            flush=True,
        )
        return
    print("installing Debian's chromium for the browser tests", flush=True)
    apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(command, env=apt_env).returncode != 0:
            print(f"{' '.join(command)} failed: the browser tests cannot run.", flush=True)
            return


def test(args: list[str]) -> None:
    install("requirements-dev.txt")
    ensure_chromium()
    env = django_env("test")
    database = "DATABASE_URL" if env.get("DATABASE_URL") else f"embedded PostgreSQL in {PGDATA}"
    print(f"testing on {database}", flush=True)
    # Two workers for the two cores; branch coverage of the product code
    # (.coveragerc). Later arguments win: -n 1, --no-cov.
    command = [str(PYTHON), "-m", "pytest", "-n", "2", "--dist", "loadfile", "--cov", "--cov-report=term:skip-covered"]
    os.execve(str(PYTHON), [*command, *args], env)


def stopdb(args: list[str]) -> None:
    install("requirements.txt")
    code = (
        "import sys; from pathlib import Path; from couponsite import embedded_db; embedded_db.stop(Path(sys.argv[1]))"
    )
    run(PYTHON, "-c", code, PGDATA)


COMMANDS = {"serve": serve, "test": test, "stopdb": stopdb}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
