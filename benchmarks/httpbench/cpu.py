"""Where the CPU went during a run, from /proc: gunicorn, PostgreSQL, Redis, wrk,
and everything else on the machine.

On a machine shared with other work the figures of a run depend on what else
ran; "others" says how much that was. Per request: gunicorn's master and
workers (with the workers that exited and were reaped), the scratch database's
backends (those alive at the end of the run; the server must be on this
machine), the Redis server, and wrk (a child of ours, in RUSAGE_CHILDREN).
"""

from __future__ import annotations

import dataclasses
import os
import resource
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Snapshot:
    machine_busy: float  # CPU seconds of all cores, not idle
    machine_total: float  # CPU seconds of all cores
    gunicorn: float
    backends: dict[int, float]
    redis: float
    children: float  # our reaped children: the wrk runs


def _process_seconds(pid: int, *, with_children: bool = False) -> float:
    """utime + stime (and the reaped children's, for a parent) of a process; 0 when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()  # after the command, which may hold spaces
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + (cutime + cstime if with_children else 0)) / TICKS


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _machine() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq + steal
    return busy / TICKS, (busy + idle + iowait) / TICKS


def backend_pids() -> list[int]:
    """The scratch database's client backends other than ours."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            """
        )
        return [row[0] for row in cursor.fetchall()]


def snapshot(*, gunicorn_pid: int, redis_pid: int | None) -> Snapshot:
    busy, total = _machine()
    gunicorn = _process_seconds(gunicorn_pid, with_children=True)
    gunicorn += sum(_process_seconds(child) for child in _children(gunicorn_pid))
    return Snapshot(
        machine_busy=busy,
        machine_total=total,
        gunicorn=gunicorn,
        backends={pid: _process_seconds(pid) for pid in backend_pids()},
        redis=_process_seconds(redis_pid) if redis_pid else 0.0,
        children=resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime,
    )


def per_request(before: Snapshot, after: Snapshot, *, requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each part, and the machine's busy share in %."""
    backends = sum(seconds - before.backends.get(pid, 0.0) for pid, seconds in after.backends.items())
    parts = {
        "gunicorn": after.gunicorn - before.gunicorn,
        "postgres": backends,
        "redis": after.redis - before.redis,
        "wrk": after.children - before.children,
    }
    busy = after.machine_busy - before.machine_busy
    parts["others"] = max(busy - sum(parts.values()), 0.0)
    result = {name: 1000 * seconds / max(requests, 1) for name, seconds in parts.items()}
    elapsed = after.machine_total - before.machine_total
    result["busy_pct"] = 100 * busy / elapsed if elapsed else 0.0
    result["others_pct"] = 100 * parts["others"] / elapsed if elapsed else 0.0
    return result
