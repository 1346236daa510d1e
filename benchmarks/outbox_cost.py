"""What the event row (the outbox) costs an assignment, measured side by side.

    .venv/bin/python benchmarks/outbox_cost.py [--codes 200000] [--picks 2000] [--rounds 6]

On a scratch database (see scratch.py), with a book of ``--codes`` generated
codes: each round assigns ``--picks`` coupons to new users with the product's
own statement (``coupons.services.ASSIGN_NEXT_SQL``: the pick, the update and
the event in one statement, prepared as the backend prepares it), and as many
with the same statement without its event (the ``events`` part taken out),
alternating which goes first; one transaction each, committed. It reports the
median time per assignment of each and PostgreSQL's CPU per assignment (the
server process's own, from /proc), and their ratios. The client is psycopg
with the SQL already made, so what differs is the server's work for the row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from pathlib import Path

from scratch import scratch_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codes", type=int, default=200_000)
    parser.add_argument("--picks", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if 2 * args.picks * args.rounds > args.codes:
        parser.error("--codes must hold 2 x picks x rounds assignments")
    with scratch_database("coupons_bench_outbox"):
        run(codes=args.codes, picks=args.picks, rounds=args.rounds)


def statements() -> dict[str, str]:
    """The product's statement, and the same without its event, prepared alike."""
    from coupons.services import ASSIGN_NEXT_SQL
    from couponsite.db import prepare_once

    start, end = ASSIGN_NEXT_SQL.index("), events AS ("), ASSIGN_NEXT_SQL.index("SELECT * FROM changed")
    without = prepare_once(ASSIGN_NEXT_SQL[:start] + ")\n" + ASSIGN_NEXT_SQL[end:])
    return {"with the event": ASSIGN_NEXT_SQL, "without it": without}


def run(*, codes: int, picks: int, rounds: int) -> None:
    from django.db import connection

    from books.services import book_create, partner_create
    from coupons.generation import codes_generate
    from coupons.lifecycle import event_parameters
    from coupons.services import ASSIGN
    from couponsite.actors import Actor

    actor = Actor.system("benchmark")
    book = book_create(partner=partner_create(name="Benchmark"), name="Outbox")
    codes_generate(actor=actor, book=book, count=codes)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE coupons_coupon")
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    common = {"book_id": book.pk, **event_parameters(transition=ASSIGN, actor=actor)}
    variants = statements()
    seconds = {name: [] for name in variants}
    server_cpu = {name: [] for name in variants}
    for round_number in range(rounds):
        order = list(variants.items()) if round_number % 2 == 0 else list(reversed(variants.items()))
        for name, sql in order:
            cpu_before, started = _cpu_seconds(backend), time.perf_counter()
            for _ in range(picks):
                _assign(sql, {**common, "user_id": uuid.uuid4().hex})
            seconds[name].append((time.perf_counter() - started) / picks)
            server_cpu[name].append((_cpu_seconds(backend) - cpu_before) / picks)
        print(f"round {round_number + 1} of {rounds} done", flush=True)

    print()
    print(f"{'statement':<16} {'ms per assignment':>18} {'PostgreSQL CPU ms':>18}")
    for name in variants:
        wall, cpu = 1000 * statistics.median(seconds[name]), 1000 * statistics.median(server_cpu[name])
        print(f"{name:<16} {wall:>18.3f} {cpu:>18.3f}")
    with_event, without = (statistics.median(seconds[name]) for name in variants)
    cpu_with, cpu_without = (statistics.median(server_cpu[name]) for name in variants)
    print(f"the event row: {with_event / without:.2f} x the time, {cpu_with / cpu_without:.2f} x PostgreSQL's CPU")


def _assign(sql: str, parameters: dict) -> None:
    """One transaction: BEGIN, the statement and COMMIT go out in one call."""
    from django.db import transaction
    from django.utils import timezone

    from couponsite.db import send_with_next

    now = timezone.now()
    with transaction.atomic():
        assigned = send_with_next(sql, {**parameters, "at": now, "now": now})
    if assigned.rowcount != 1:
        raise RuntimeError("the book ran out of codes")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
