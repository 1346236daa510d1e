"""Random assignment on a 1,000,000-code book against a 1,000-code book.

    .venv/bin/python benchmarks/assignment.py [--big 1000000] [--small 1000] [--picks 400] [--rounds 6]

On a scratch database (see scratch.py): one big book, and for every round a
fresh small book, both vacuumed. Each round times ``picks`` calls of
``coupons.services.coupon_assign_random`` (one transaction each, a new user
each time, as the API makes them) on the small book and on the big one,
alternating which goes first, twice: with durable commits, and with
``synchronous_commit = off`` for the session, where the commit does not wait
for the disk and the pick's own cost shows. The median rate of each is
reported with the ratio (target: the big book at most 1.2 x slower).
"""

from __future__ import annotations

import argparse
import statistics
import time

from scratch import scratch_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--picks", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if 2 * args.picks > args.small:
        parser.error("--picks must be at most half of --small")
    with scratch_database("coupons_bench_assign"):
        run(big=args.big, small=args.small, picks=args.picks, rounds=args.rounds)


def run(*, big: int, small: int, picks: int, rounds: int) -> None:
    from django.db import connection

    from books.services import book_create, partner_create
    from coupons.generation import codes_generate
    from couponsite.actors import Actor

    partner = partner_create(name="Benchmark")
    big_book = book_create(partner=partner, name="Big")
    started = time.perf_counter()
    codes_generate(actor=Actor.system("benchmark"), book=big_book, count=big)
    print(f"{big:,} codes generated in {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE coupons_coupon")

    modes = {"durable commits": "on", "synchronous_commit=off": "off"}
    rates = {(mode, size): [] for mode in modes for size in ("small", "big")}
    for round_number in range(rounds):
        small_book = book_create(partner=partner, name=f"Small {round_number}")
        codes_generate(actor=Actor.system("benchmark"), book=small_book, count=small, pattern="SMALL-####-####-####")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE coupons_coupon")
        order = [("small", small_book), ("big", big_book)]
        if round_number % 2:
            order.reverse()
        for mode, setting in modes.items():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [setting])
            for size, book in order:
                users = f"r{round_number}-{setting}"
                rates[mode, size].append(assign_rate(book, picks=picks, users=users))
        summary = ", ".join(f"{mode} {size} {rate[-1]:,.0f}/s" for (mode, size), rate in rates.items())
        print(f"round {round_number + 1}: {summary}", flush=True)

    print()
    print(f"{'commits':<24} {'book':>18} {'median assigns/s':>17} {'all rounds':>42}")
    for mode in modes:
        for size, count in (("small", small), ("big", big)):
            runs = rates[mode, size]
            every = " ".join(f"{r:,.0f}" for r in runs)
            print(f"{mode:<24} {f'{count:,} codes':>18} {statistics.median(runs):>17,.0f} {every:>42}")
    for mode in modes:
        ratio = statistics.median(rates[mode, "small"]) / statistics.median(rates[mode, "big"])
        verdict = "ok" if ratio <= 1.2 else "MISSED"
        print(f"{mode}: time per assignment, big / small book: {ratio:.2f} x (target <= 1.2: {verdict})")


def assign_rate(book, *, picks: int, users: str) -> float:
    from coupons.services import coupon_assign_random
    from couponsite.actors import Actor

    actor = Actor.system("benchmark")
    started = time.perf_counter()
    for n in range(picks):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"{users}-{n}", actor=actor)
    return picks / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
