"""Random assignment on a 1,000,000-code book against a 1,000-code book.

    .venv/bin/python benchmarks/assignment.py [--big 1000000] [--small 1000] [--picks 500] [--rounds 6]

On a scratch database (see scratch.py): one big book, and for every round a
fresh small book. Each round times ``picks`` calls of
``coupons.services.coupon_assign_random`` (one transaction each, a new user
each time, as the API makes them) on the small book and on the big one,
alternating which goes first. The median rate of each is reported and their
ratio (target: the big book at most 1.2 x slower).
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
    parser.add_argument("--picks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if args.picks > args.small:
        parser.error("--picks must not exceed --small")
    with scratch_database("coupons_bench_assign"):
        run(big=args.big, small=args.small, picks=args.picks, rounds=args.rounds)


def run(*, big: int, small: int, picks: int, rounds: int) -> None:
    from django.db import connection

    from books.services import book_create, partner_create
    from coupons.bulk import codes_generate

    partner = partner_create(name="Benchmark")
    big_book = book_create(partner=partner, name="Big")
    started = time.perf_counter()
    codes_generate(book=big_book, count=big)
    print(f"{big:,} codes generated in {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE coupons_coupon")

    rates: dict[str, list[float]] = {"small": [], "big": []}
    for round_number in range(rounds):
        small_book = book_create(partner=partner, name=f"Small {round_number}")
        codes_generate(book=small_book, count=small, pattern="SMALL-####-####-####")
        order = [("small", small_book), ("big", big_book)]
        if round_number % 2:
            order.reverse()
        for name, book in order:
            rates[name].append(assign_rate(book, picks=picks, users=f"r{round_number}"))
        print(f"round {round_number + 1}: small {rates['small'][-1]:,.0f}/s, big {rates['big'][-1]:,.0f}/s", flush=True)

    small_rate, big_rate = statistics.median(rates["small"]), statistics.median(rates["big"])
    ratio = small_rate / big_rate
    print()
    print(f"{'book':<24} {'median assigns/s':>17} {'all rounds':>40}")
    print(f"{f'{small:,} codes':<24} {small_rate:>17,.0f} {' '.join(f'{r:,.0f}' for r in rates['small']):>40}")
    print(f"{f'{big:,} codes':<24} {big_rate:>17,.0f} {' '.join(f'{r:,.0f}' for r in rates['big']):>40}")
    verdict = "ok" if ratio <= 1.2 else "MISSED"
    print(f"time per assignment, big / small: {ratio:.2f} x (target <= 1.2: {verdict})")


def assign_rate(book, *, picks: int, users: str) -> float:
    from coupons.services import coupon_assign_random
    from couponsite.actors import Actor

    actor = Actor.system("benchmark")
    started = time.perf_counter()
    for n in range(picks):
        coupon_assign_random(book=book, user_id=f"{users}-{n}", actor=actor)
    return picks / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
