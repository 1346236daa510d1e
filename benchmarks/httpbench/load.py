"""wrk with benchmarks/wrk/api.lua: one timed run of one endpoint."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from scratch import ROOT

SCRIPT = ROOT / "benchmarks" / "wrk" / "api.lua"
THREADS = 2
CONNECTIONS = 32
MARKER = "BENCH_JSON "


@dataclasses.dataclass
class Run:
    """What wrk saw in one run."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    sent: int
    exhausted: bool
    ok_users: list[str]
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)  # see cpu.per_request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    @property
    def unanswered(self) -> int:
        """Requests made but not answered within the run: cut off when wrk
        stopped (the server may still have done them) or lost to socket errors."""
        return self.sent - sum(self.statuses.values())


def ensure_wrk() -> str:
    """The wrk binary; Debian's package is installed when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing: apt-get install wrk (as root), then run again.")
    print("installing Debian's wrk", flush=True)
    apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(command, env=apt_env, check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        sys.exit("apt-get installed wrk but it is not on PATH")
    return found


def wrk_version(wrk: str) -> str:
    completed = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout or completed.stderr).splitlines()[0].split(" Copyright")[0].strip()


def run_wrk(
    wrk: str,
    *,
    url: str,
    mode: str,
    seconds: int,
    tag: str,
    api_key: str = "",
    items: Path | None = None,
    book_id: int | None = None,
    idempotency: bool = False,
) -> Run:
    env = dict(
        os.environ,
        BENCH_MODE=mode,
        BENCH_API_KEY=api_key,
        BENCH_TAG=tag,
        BENCH_THREADS=str(THREADS),
        BENCH_IDEMPOTENCY="1" if idempotency else "0",
    )
    if items is not None:
        env["BENCH_FILE"] = str(items)
    if book_id is not None:
        env["BENCH_BOOK_ID"] = str(book_id)
    command = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(SCRIPT), url]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith(MARKER)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    data = json.loads(lines[-1].removeprefix(MARKER))
    return Run(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses={int(status): count for status, count in data["statuses"].items()},
        socket_errors={kind: count for kind, count in data["errors"].items() if kind != "status" and count},
        sent=data["sent"],
        exhausted=data["exhausted"],
        ok_users=data["ok_users"],
    )
