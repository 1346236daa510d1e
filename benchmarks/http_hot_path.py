"""The HTTP hot path under load: gunicorn in production mode, driven by wrk.

    .venv/bin/python benchmarks/http_hot_path.py [--duration 12] [--runs 3] [--big 1000000] [--small 5000]
        [--endpoints me,get,assign,lock,redeem,size] [--no-idempotency] [--workers N]
        [--redis-url redis://127.0.0.1:6379/5] [--log var/bench-http.log]

On a scratch database (scratch.py: the server of DATABASE_URL when set, else
the embedded one) with a book of ``--big`` generated codes, gunicorn starts
from gunicorn.conf.py with DJANGO_ENV=production, Redis on (the ``--redis-url``
database is flushed first: give it one of its own) and the rate limits raised
out of the way. wrk (Debian's package, installed when missing; 2 threads, 32
connections) drives each endpoint for ``--duration`` seconds with
benchmarks/wrk/api.lua, which makes every request distinct: a new user for
each assignment, a prepared (code, user) pair used once for each lock and
redeem, codes round-robin for the reads. Every POST runs twice: plain, and
with a distinct Idempotency-Key on each request.

A round measures /healthz and then every endpoint; ``--runs`` rounds are
made and each endpoint's median run (by requests/s) is reported with its p50
and p99 and its rate as a multiple of /healthz's median. Last, assignment on
the big book is timed against fresh ``--small``-code books, in alternation.
A second table gives each median run's CPU per request by process (from
/proc) and the share of the machine that other work took meanwhile: on a
shared machine the rates move with that share, the CPU per request much less.

Afterwards the database is checked in SQL: each write run's events match the
2xx answers wrk read, and nothing was assigned or redeemed twice. The exit
status is 1 when a check fails or a request failed: answered other than 2xx,
or a socket error (wrk gives up on a request after 2 s).

Not named benchmarks/http.py: the scripts of this folder run with the folder
first on sys.path, where a file of that name would stand in for the standard
library's ``http`` package (Django's ``from http import cookies`` would load it).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import secrets
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from httpbench import checks, cpu, data, report, server
from httpbench.load import Run, ensure_wrk, run_wrk, wrk_version
from scratch import ROOT, scratch_database

KEYED = "idempotency key"
# Prepared pairs for one lock or redeem run: enough for this multiple of
# /healthz's best rate (no write comes near it) for the whole run.
PAIR_HEADROOM = 1.2
ENDPOINTS = ("me", "get", "assign", "lock", "redeem", "size")
BOOK_SIZE_GOAL = 1.2


@dataclasses.dataclass(frozen=True)
class Case:
    """One endpoint in one variant."""

    key: str  # its name for --endpoints
    endpoint: str
    mode: str  # api.lua's BENCH_MODE
    variant: str = "plain"
    goal: float | None = None  # requests/s at least this x /healthz's
    action: str | None = None  # the event each request writes

    @property
    def idempotency(self) -> bool:
        return self.variant == KEYED


HEALTHZ = Case("healthz", "GET /healthz", "healthz", variant="-")
ME = Case("me", "GET /api/v1/me", "me", goal=0.60)
ASSIGN = Case("assign", "POST /api/v1/coupons/assign", "assign", goal=0.30, action="assign")
CASES = [
    HEALTHZ,
    ME,
    Case("get", "GET /api/v1/coupons/{code}", "get", goal=0.45),
    ASSIGN,
    Case("assign", "POST /api/v1/coupons/assign", "assign", KEYED, goal=0.20, action="assign"),
    Case("lock", "POST /api/v1/coupons/lock/{code}", "lock", goal=0.30, action="lock"),
    Case("lock", "POST /api/v1/coupons/lock/{code}", "lock", KEYED, goal=0.20, action="lock"),
    Case("redeem", "POST /api/v1/coupons/redeem/{code}", "redeem", goal=0.30, action="redeem"),
    Case("redeem", "POST /api/v1/coupons/redeem/{code}", "redeem", KEYED, goal=0.20, action="redeem"),
]


@dataclasses.dataclass
class Bench:
    """What every measurement needs, and what they found."""

    wrk: str
    url: str
    api_key: str
    partner: Any
    book: Any  # the big book: the one every endpoint works on
    folder: Path
    duration: int
    codes_file: Path
    gunicorn_pid: int
    redis_pid: int | None
    healthz_rates: list[float] = dataclasses.field(default_factory=list)
    pair_headroom: float = PAIR_HEADROOM
    checks: list[checks.Check] = dataclasses.field(default_factory=list)

    def pairs_per_run(self) -> int:
        return math.ceil(self.duration * max(500.0, self.pair_headroom * max(self.healthz_rates)))


def main() -> None:
    args = parse_args()
    wrk = ensure_wrk()
    signal.signal(signal.SIGTERM, _interrupt)  # cleaned up like a Ctrl-C
    flush_redis(args.redis_url)
    loads = [report.load_average()]
    try:
        with scratch_database("coupons_bench_http") as database, tempfile.TemporaryDirectory() as folder:
            failed = run(args, database=database, folder=Path(folder), wrk=wrk, loads=loads)
    except KeyboardInterrupt:
        sys.exit("interrupted: gunicorn stopped, scratch database dropped")
    sys.exit(1 if failed else 0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=12, help="seconds of each wrk run (whole: wrk takes no fractions)"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds; the median run is reported")
    parser.add_argument("--big", type=int, default=1_000_000, help="codes of the main book")
    parser.add_argument("--small", type=int, default=5_000, help="codes of the small books of the size comparison")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS), help="a subset of " + ",".join(ENDPOINTS))
    parser.add_argument("--no-idempotency", action="store_true", help="skip the runs with an Idempotency-Key")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5", help="flushed at the start")
    parser.add_argument("--log", type=Path, default=ROOT / "var" / "bench-http.log", help="gunicorn's output")
    args = parser.parse_args()
    args.endpoints = {name.strip() for name in args.endpoints.split(",") if name.strip()}
    unknown = args.endpoints - set(ENDPOINTS)
    if unknown:
        parser.error(f"unknown endpoints {sorted(unknown)}; choose from {','.join(ENDPOINTS)}")
    if args.duration < 1 or args.runs < 1 or args.big < 1 or args.small < 1:
        parser.error("--duration, --runs, --big and --small must be positive")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def redis_pid(url: str) -> int | None:
    """The Redis server's pid when it runs on this machine (its CPU is counted)."""
    import redis

    pid = int(redis.Redis.from_url(url).info("server")["process_id"])
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def run(args: argparse.Namespace, *, database: dict[str, Any], folder: Path, wrk: str, loads: list[str]) -> bool:
    """Everything on the scratch database; True when something failed."""
    partner, api_key = data.partner_with_key()
    started = time.perf_counter()
    book = data.book_with_codes(partner, name="Big", count=args.big)
    data.vacuum()
    print(f"{args.big:,} codes generated in {time.perf_counter() - started:.1f} s", flush=True)
    codes_file = data.write_codes(book, folder / "codes.txt", count=5_000)
    env = server.production_env(database=database, redis_url=args.redis_url)
    gunicorn = server.start(env=env, log=args.log, workers=args.workers)
    try:
        time.sleep(1)  # every worker booted before they are counted
        source = "--workers" if args.workers else "gunicorn.conf.py's default"
        workers = f"{gunicorn.workers()} {gunicorn.worker_class()} workers ({source}, counted in /proc)"
        bench = Bench(
            wrk=wrk,
            url=gunicorn.url,
            api_key=api_key,
            partner=partner,
            book=book,
            folder=folder,
            duration=args.duration,
            codes_file=codes_file,
            gunicorn_pid=gunicorn.process.pid,
            redis_pid=redis_pid(args.redis_url),
        )
        rows = measure_all(bench, args)
    finally:
        server.stop(gunicorn)
    loads.append(report.load_average())
    results = checks.invariants()
    print_report(args, bench, rows, database=database, workers=workers, loads=loads)
    all_checks = checks.merged(bench.checks) + results
    print("\n### Checks\n")
    print("Every write run is checked (warm-ups and book-size runs included), then the whole database.\n")
    for check in all_checks:
        print(f"- {'PASS' if check.passed else 'FAIL'} {check.name}: {check.detail}")
    errors = sum(r.non_2xx + sum(r.socket_errors.values()) for row in rows for r in row.runs)
    return errors > 0 or not all(check.passed for check in all_checks)


def measure_all(bench: Bench, args: argparse.Namespace) -> list[report.Row]:
    cases = [c for c in CASES if c.key == "healthz" or c.key in args.endpoints]
    if args.no_idempotency:
        cases = [c for c in cases if not c.idempotency]
    rows = {
        case: report.Row(case.endpoint, case.variant, [], goal_ratio=case.goal, p99_goal=not case.idempotency)
        for case in cases
    }
    if ME in rows:
        status = server.get_status(f"{bench.url}/api/v1/me", {"Authorization": f"Api-Key {bench.api_key}"})
        if status != 200:
            rows[ME].missing = "missing" if status == 404 else f"answers {status}"
            cases.remove(ME)

    # Warm-up, not reported: every worker has loaded the views, and /healthz's
    # rate sizes the prepared pairs of the first round.
    bench.healthz_rates.append(measure(bench, HEALTHZ, seconds=3).rate)
    for case in cases:
        if case.mode in ("get", "assign"):
            measure(bench, case, seconds=2)

    for round_number in range(1, args.runs + 1):
        data.vacuum()  # every round starts from the same kind of table
        for case in cases:
            run = measure_with_pairs_to_spare(bench, case)
            rows[case].runs.append(run)
            if case.mode == "healthz":
                bench.healthz_rates.append(run.rate)
            print(f"round {round_number}/{args.runs}: {progress(f'{case.endpoint} ({case.variant})', run)}", flush=True)

    result = list(rows.values())
    if "size" in args.endpoints:
        plain_assign = rows.get(ASSIGN)
        result += compare_book_sizes(
            bench, args, assign_rate=report.median_rate(plain_assign.runs) if plain_assign else None
        )
    return result


def measure(bench: Bench, case: Case, *, seconds: int | None = None, book: Any = None, label: str | None = None) -> Run:
    """One wrk run of ``case``; a write's events are checked against its answers."""
    book = book or bench.book
    tag = f"{case.mode}-{'k' if case.idempotency else 'p'}-{secrets.token_hex(4)}"
    items = None
    if case.mode == "get":
        items = bench.codes_file
    elif case.mode in ("lock", "redeem"):
        wanted = bench.pairs_per_run()
        data.top_up_pairs(book, wanted=wanted)
        items = data.write_pairs(data.ready_pairs(book, limit=wanted), bench.folder / f"{tag}.tsv")
    after_event = data.last_event_id()
    before = cpu.snapshot(gunicorn_pid=bench.gunicorn_pid, redis_pid=bench.redis_pid)
    run = run_wrk(
        bench.wrk,
        url=bench.url,
        mode=case.mode,
        seconds=seconds or bench.duration,
        tag=tag,
        api_key=bench.api_key,
        items=items,
        book_id=book.pk,
        idempotency=case.idempotency,
    )
    after = cpu.snapshot(gunicorn_pid=bench.gunicorn_pid, redis_pid=bench.redis_pid)
    run.cpu = cpu.per_request(before, after, requests=run.requests)
    data.settle()
    if case.action:
        bench.checks.append(
            checks.run_accounting(
                label=f"{label or case.endpoint} ({case.variant})",
                tag=tag,
                action=case.action,
                run=run,
                after_event=after_event,
                key_prefix=f"{tag}-k" if case.idempotency else None,
            )
        )
    return run


def measure_with_pairs_to_spare(bench: Bench, case: Case) -> Run:
    """A run that ran out of prepared pairs is not a fair figure: it is thrown
    away (loudly) and made again with twice as many; twice out is an error."""
    run = measure(bench, case)
    if not run.exhausted:
        return run
    print(f"  {case.endpoint} ({case.variant}) ran out of prepared pairs: repeating with twice as many", flush=True)
    bench.pair_headroom *= 2
    run = measure(bench, case)
    if run.exhausted:
        raise RuntimeError(f"{case.endpoint} ({case.variant}) ran out of prepared pairs twice")
    return run


def compare_book_sizes(bench: Bench, args: argparse.Namespace, *, assign_rate: float | None) -> list[report.Row]:
    """Assignment on the big book against fresh small books, in alternation.

    A run must not empty a small book: runs are as long as drawing half of it
    takes at the rate plain assignment reached (at least 2 s, at most
    --duration), the same length for both books.
    """
    if assign_rate is None:
        assign_rate = measure(bench, ASSIGN, seconds=3).rate
    seconds = min(args.duration, max(2, int(0.5 * args.small / assign_rate)))
    case = Case("size", "POST /api/v1/coupons/assign", "assign", action="assign")
    small_row = report.Row(f"POST /api/v1/coupons/assign, {args.small:,}-code book", f"plain, {seconds:g} s runs", [])
    big_row = report.Row(f"POST /api/v1/coupons/assign, {args.big:,}-code book", f"plain, {seconds:g} s runs", [])
    for round_number in range(args.runs):
        small_book = data.book_with_codes(bench.partner, name=f"Small {round_number + 1}", count=args.small)
        data.vacuum()
        order = [(small_row, small_book), (big_row, bench.book)]
        if round_number % 2:
            order.reverse()
        for row, book in order:
            row.runs.append(measure(bench, case, seconds=seconds, book=book, label=row.endpoint))
            print(f"book sizes {round_number + 1}/{args.runs}: {progress(row.endpoint, row.runs[-1])}", flush=True)
    ratio = report.median_rate(small_row.runs) / report.median_rate(big_row.runs)
    small_row.goal_text = "reference for the row below"
    # The verdict goes by the rates, as the goal says; CPU per request is
    # shown beside them because it moves much less with the machine's other work.
    by_cpu = report.cpu_ratio(big_row, small_row)
    big_row.goal_text = (
        f"time per request <= {BOOK_SIZE_GOAL}x the small book's: {ratio:.2f}x"
        + (f" (CPU per request: {by_cpu:.2f}x)" if by_cpu else "")
        + "; p99 <= 75 ms"
    )
    big_row.goal_met = ratio <= BOOK_SIZE_GOAL
    return [small_row, big_row]


def progress(what: str, run: Run) -> str:
    flags = f", non-2xx {run.non_2xx:,}" if run.non_2xx else ""
    flags += f", socket errors {run.socket_errors}" if run.socket_errors else ""
    if run.cpu:
        ours = sum(run.cpu[name] for name in report.OURS)
        flags += f"; CPU {ours:.1f} ms a request, others took {run.cpu['others_pct']:.0f} % of the machine"
    return f"{what}: {run.rate:,.0f} req/s, p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms{flags}"


def print_report(
    args: argparse.Namespace,
    bench: Bench,
    rows: list[report.Row],
    *,
    database: dict[str, Any],
    workers: str,
    loads: list[str],
) -> None:
    healthz = next(row for row in rows if row.endpoint == "GET /healthz")
    print(f"\n## HTTP benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}\n")
    print(f"    {shlex.join([sys.executable, *sys.argv])}\n")
    print(
        report.machine_facts(
            database=describe(database),
            workers=workers,
            versions=versions(bench, redis_url=args.redis_url),
            loads=loads,
        )
    )
    print(
        f"- every endpoint on a book of {args.big:,} codes; {args.runs} round(s) of {args.duration:g} s runs, "
        "the median run shown"
    )
    print()
    print(report.table(rows, healthz_rate=report.median_rate(healthz.runs)))
    print("\n### Where the CPU went: ms of CPU per request in the median run\n")
    print(report.cpu_table(rows))
    print("\n### Every run\n")
    print(report.run_details(rows))
    print(f"\n### Server log ({args.log})\n")
    print(report.log_summary(args.log))


def describe(database: dict[str, Any]) -> str:
    where = "embedded server" if str(database["HOST"]).startswith("/") else "system server (DATABASE_URL)"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"scratch database {database['NAME']} on the {where} {database['HOST']}{port}"


def versions(bench: Bench, *, redis_url: str) -> dict[str, str]:
    import django
    import gunicorn
    import redis
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgresql = cursor.fetchone()[0]
    return {
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "postgresql": postgresql,
        "redis": redis.Redis.from_url(redis_url).info("server")["redis_version"],
        "wrk": wrk_version(bench.wrk),
    }


if __name__ == "__main__":
    main()
