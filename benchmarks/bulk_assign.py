"""Assigning 1,000 users at once against a hand-written set-based UPDATE of 1,000 rows.

    .venv/bin/python benchmarks/bulk_assign.py [--codes 100000] [--users 1000] [--rounds 7] [--singles 200]

On a scratch database (see scratch.py): one book with ``max_codes_per_user``
1, so that every user's holdings are counted, vacuumed. Each round times, in
alternating order, on the same connection, each in its own transaction with
its commit:

- ``coupons.batch_assignment.coupons_assign_batch`` for ``users`` new users
  (the rules, the counts, the pick, the write, one event per coupon);
- the floor: one hand-written ``UPDATE`` giving the book's next ``users``
  available coupons (by ``sort_key``, ``FOR UPDATE SKIP LOCKED``) to made-up
  users, with no rule, no count and no event.

The median of each is reported with the ratio (target: the batch at most
3 x the UPDATE). For scale, ``singles`` calls of ``coupon_assign_random``
(one transaction each, as the API makes them) are timed per round too and
given as the time 1,000 of them would take.
"""

from __future__ import annotations

import argparse
import statistics
import time

from scratch import scratch_database

FLOOR_SQL = """
UPDATE coupons_coupon AS coupon
SET state = 'assigned', user_id = 'floor-' || coupon.id, assigned_at = now(), updated_at = now()
WHERE coupon.id IN (
    SELECT id FROM coupons_coupon WHERE book_id = %(book_id)s AND state = 'available'
    ORDER BY sort_key LIMIT %(users)s FOR UPDATE SKIP LOCKED
)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--singles", type=int, default=200)
    args = parser.parse_args()
    if args.rounds * (2 * args.users + args.singles) > args.codes:
        parser.error("--codes must cover every round's batch, floor and singles")
    with scratch_database("coupons_bench_bulk_assign"):
        run(codes=args.codes, users=args.users, rounds=args.rounds, singles=args.singles)


def run(*, codes: int, users: int, rounds: int, singles: int) -> None:
    from django.db import connection

    from books.services import book_create, partner_create
    from coupons.generation import codes_generate
    from couponsite.actors import Actor

    partner = partner_create(name="Benchmark")
    book = book_create(partner=partner, name="Bulk", max_codes_per_user=1)
    codes_generate(book=book, count=codes, actor=Actor.system("benchmark"))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE coupons_coupon")
    print(f"{codes:,} codes generated; {rounds} rounds of {users:,} users", flush=True)

    times: dict[str, list[float]] = {"batch": [], "floor": [], "singles": []}
    for round_number in range(rounds):
        runs = [("batch", time_batch), ("floor", time_floor)]
        if round_number % 2:
            runs.reverse()
        for name, timer in runs:
            times[name].append(timer(book, users=users, tag=f"r{round_number}"))
        times["singles"].append(time_singles(book, calls=singles, tag=f"r{round_number}") * users / singles)
        summary = ", ".join(f"{name} {values[-1] * 1000:,.1f} ms" for name, values in times.items())
        print(f"round {round_number + 1}: {summary}", flush=True)

    print()
    print(f"{'operation':<52} {'median ms':>10} {'all rounds ms':>44}")
    labels = {
        "floor": f"hand-written UPDATE of {users:,} rows (the floor)",
        "batch": f"coupons_assign_batch, {users:,} users",
        "singles": f"{users:,} x coupon_assign_random (from {singles})",
    }
    for name in ("floor", "batch", "singles"):
        every = " ".join(f"{t * 1000:,.0f}" for t in times[name])
        print(f"{labels[name]:<52} {statistics.median(times[name]) * 1000:>10,.1f} {every:>44}")
    ratio = statistics.median(times["batch"]) / statistics.median(times["floor"])
    verdict = "ok" if ratio <= 3 else "MISSED"
    print(f"batch / floor: {ratio:.2f} x (target <= 3: {verdict})")
    singles_ratio = statistics.median(times["singles"]) / statistics.median(times["batch"])
    print(f"single calls / batch: {singles_ratio:.1f} x")


def time_batch(book, *, users: int, tag: str) -> float:
    from coupons.batch_assignment import coupons_assign_batch
    from coupons.models import Coupon
    from couponsite.actors import Actor

    user_ids = [f"{tag}-batch-{n}" for n in range(users)]
    started = time.perf_counter()
    results = coupons_assign_batch(
        partner=book.partner, book_id=book.pk, user_ids=user_ids, actor=Actor.system("benchmark")
    )
    elapsed = time.perf_counter() - started
    if not all(isinstance(result, Coupon) for result in results):
        raise SystemExit("the batch refused a user: the book is too small")
    return elapsed


def time_floor(book, *, users: int, tag: str) -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, {"book_id": book.pk, "users": users})
        changed = cursor.rowcount
    elapsed = time.perf_counter() - started
    if changed != users:
        raise SystemExit("the floor changed too few rows: the book is too small")
    return elapsed


def time_singles(book, *, calls: int, tag: str) -> float:
    from coupons.services import coupon_assign_random
    from couponsite.actors import Actor

    actor = Actor.system("benchmark")
    started = time.perf_counter()
    for n in range(calls):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"{tag}-single-{n}", actor=actor)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
