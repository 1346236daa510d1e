"""The table, the facts of the machine, and what the server logged."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import platform
import statistics
from pathlib import Path

from httpbench.load import CONNECTIONS, Run

P99_GOAL_MS = 75.0


@dataclasses.dataclass
class Row:
    endpoint: str
    variant: str
    runs: list[Run]
    goal_ratio: float | None = None  # at least this x /healthz's requests/s
    goal_text: str = ""  # a goal that is not a ratio to /healthz (book sizes)
    goal_met: bool | None = None
    missing: str = ""  # why the endpoint was not measured
    p99_goal: bool = True  # issue 10: the goals apply without an Idempotency-Key; with one, the rate only

    def median_run(self) -> Run:
        """The run with the median requests/s (the lower of the middle two)."""
        ordered = sorted(self.runs, key=lambda run: run.rate)
        return ordered[(len(ordered) - 1) // 2]


def median_rate(runs: list[Run]) -> float:
    return statistics.median(run.rate for run in runs)


def table(rows: list[Row], *, healthz_rate: float) -> str:
    header = ["endpoint", "variant", "req/s", "p50 ms", "p99 ms", "x /healthz", "goal", "met?", "non-2xx"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if row.missing or not row.runs:
            cells = [row.endpoint, row.variant, row.missing or "not run", "", "", "", goal_text(row), "", ""]
        else:
            run = row.median_run()
            ratio = median_rate(row.runs) / healthz_rate
            non_2xx = sum(r.non_2xx for r in row.runs)
            sockets = sum(sum(r.socket_errors.values()) for r in row.runs)
            errors = f"{non_2xx:,}" + (f" + {sockets:,} socket errors" if sockets else "")
            cells = [
                row.endpoint,
                row.variant,
                f"{median_rate(row.runs):,.0f}",
                f"{run.p50_ms:.1f}",
                f"{run.p99_ms:.1f}",
                f"{ratio:.2f}",
                goal_text(row),
                verdict(row, ratio=ratio, p99=run.p99_ms),
                errors + (" FLAGGED" if non_2xx or sockets else ""),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


OURS = ("gunicorn", "postgres", "redis", "wrk")


def cpu_table(rows: list[Row]) -> str:
    """CPU per request by process, so that a rate can be read on a busy
    machine: "others" is what the rest of the machine (other work, and
    PostgreSQL's background processes) took, in % of all cores. "x /healthz
    by CPU" is /healthz's CPU per request over the row's: the ratio the rates
    would have if the load had every core to itself and the CPU were its limit."""
    header = ["endpoint", "variant", *OURS, "all ours", "x /healthz by CPU", "others %", "busy %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    measured = [row for row in rows if row.runs and row.median_run().cpu]
    healthz = next((row for row in measured if row.endpoint == "GET /healthz"), None)
    for row in measured:
        c = row.median_run().cpu
        ours = sum(c[name] for name in OURS)
        by_cpu = f"{_ours(healthz) / ours:.2f}" if healthz and ours else ""
        cells = [f"{c[name]:.2f}" for name in OURS]
        cells += [f"{ours:.2f}", by_cpu, f"{c['others_pct']:.0f}", f"{c['busy_pct']:.0f}"]
        lines.append("| " + " | ".join([row.endpoint, row.variant, *cells]) + " |")
    return "\n".join(lines)


def _ours(row: Row) -> float:
    return sum(row.median_run().cpu[name] for name in OURS)


def cpu_ratio(row: Row, reference: Row) -> float | None:
    """The row's CPU per request over the reference's (median runs)."""
    if not (row.runs and reference.runs and row.median_run().cpu and reference.median_run().cpu):
        return None
    return _ours(row) / _ours(reference)


def goal_text(row: Row) -> str:
    if row.goal_text:
        return row.goal_text
    ratio = "baseline" if row.goal_ratio is None else f">= {row.goal_ratio:.2f}x"
    return f"{ratio}, p99 <= {P99_GOAL_MS:.0f} ms" if row.p99_goal else ratio


def verdict(row: Row, *, ratio: float, p99: float) -> str:
    missed = []
    if row.goal_ratio is not None and ratio < row.goal_ratio:
        missed.append("rate")
    if row.goal_met is False:
        missed.append("size")
    if row.p99_goal and p99 > P99_GOAL_MS:
        missed.append("p99")
    return "yes" if not missed else "no (" + ", ".join(missed) + ")"


def run_details(rows: list[Row]) -> str:
    """Every run, so that the spread behind each median can be seen."""
    lines = []
    for row in rows:
        if not row.runs:
            continue
        rates = " ".join(f"{run.rate:,.0f}" for run in row.runs)
        p99s = " ".join(f"{run.p99_ms:.0f}" for run in row.runs)
        line = f"- {row.endpoint} ({row.variant}): req/s {rates}; p99 ms {p99s}"
        statuses = collections.Counter()
        sockets = collections.Counter()
        for run in row.runs:
            statuses.update({s: n for s, n in run.statuses.items() if not 200 <= s < 300})
            sockets.update(run.socket_errors)
        if statuses or sockets:
            line += f"; non-2xx {dict(statuses)}, socket errors {dict(sockets)}"
        lines.append(line)
    return "\n".join(lines)


def machine_facts(*, database: str, workers: str, versions: dict[str, str], loads: list[str]) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    facts = [
        f"nproc {os.cpu_count()} ({cpu})",
        f"load average {' -> '.join(loads)} (1, 5, 15 min; start -> end)",
        f"database: {database}",
        f"gunicorn {versions['gunicorn']}: {workers}",
        f"{versions['wrk']}: 2 threads, {CONNECTIONS} connections",
        f"PostgreSQL {versions['postgresql']}, Redis {versions['redis']}, "
        f"Python {platform.python_version()}, Django {versions['django']}",
    ]
    return "\n".join(f"- {fact}" for fact in facts)


def load_average() -> str:
    return " ".join(_read("/proc/loadavg").split()[:3])


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def log_summary(log: Path) -> str:
    """What the server wrote besides its access log."""
    access = 0
    other: collections.Counter[str] = collections.Counter()
    with log.open("rb") as lines:
        for raw in lines:
            line = raw.decode(errors="replace").strip()
            if line.startswith('{"remote"'):
                access += 1
                continue
            other[_message(line)] += 1
    parts = [f"{access:,} access-log lines; {sum(other.values()):,} other lines"]
    parts += [f"  {count:>6,} x {message[:160]}" for message, count in other.most_common(8)]
    return "\n".join(parts)


def _message(line: str) -> str:
    """A log line without what changes from one to the next (time, pid, ids)."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        line = f"{record.get('level', '')} {record.get('name', '')}: {record.get('message', '')}"
    return " ".join("..." if any(ch.isdigit() for ch in word) else word for word in line.split())
