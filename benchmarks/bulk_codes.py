"""Bulk generation and import of codes against psql COPY, and their memory.

    .venv/bin/python benchmarks/bulk_codes.py [--rows 1000000] [--repeat 2]

On a scratch database (see scratch.py), each repetition empties the coupons
table, checkpoints, then times in turn:

- psql ``\\copy`` of ``rows`` pre-made coupons (every column filled in) into
  coupons_coupon, with all its indexes and constraints: the floor;
- ``codes_generate`` of ``rows`` codes (targets: at most 1.3 x the floor);
- ``codes_import_csv`` of a ``rows``-line CSV file (at most 1.5 x).

The best of the repetitions is reported. Memory: each of generation and
import runs once more, with 1/10 and then all of the rows, in a child process
of its own whose peak resident size (getrusage) and Python peak (tracemalloc)
are printed: flat memory means the same figures for both sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from scratch import ROOT, psql_command, psql_env, scratch_database, use_database

COLUMNS = "book_id, partner_id, code, state, redemption_count, sort_key, created_at, updated_at"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("DATABASE", "KIND", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with scratch_database("coupons_bench_bulk") as database, tempfile.TemporaryDirectory() as folder:
        run(database, Path(folder), rows=args.rows, repeat=args.repeat)


def run(database: dict, folder: Path, *, rows: int, repeat: int) -> None:
    from books.services import book_create, partner_create
    from coupons.generation import codes_generate
    from coupons.imports import codes_import_csv
    from couponsite.actors import Actor

    print(f"PostgreSQL {server_version()}; {rows:,} rows; best of {repeat}", flush=True)
    # One book for every run: the table is emptied before each.
    book = book_create(partner=partner_create(name="Benchmark"), name="Benchmark")
    premade = folder / "premade.copy"
    small_csv, full_csv = folder / "small.csv", folder / "codes.csv"
    write_files(book, premade=premade, full_csv=full_csv, small_csv=small_csv, rows=rows)

    timings: dict[str, list[float]] = {"copy": [], "generate": [], "import": []}
    for _ in range(repeat):
        reset_table()
        timings["copy"].append(timed(lambda: psql_copy(database, premade)))
        check_count(rows)
        reset_table()
        timings["generate"].append(
            timed(lambda: codes_generate(actor=Actor.system("benchmark"), book=book, count=rows))
        )
        check_count(rows)
        reset_table()
        timings["import"].append(timed(lambda: import_file(codes_import_csv, book, full_csv)))
        check_count(rows)

    copy = min(timings["copy"])
    print()
    print(f"{'operation':<40} {'best s':>8} {'all runs s':>20} {'x COPY':>8} {'target':>8}")
    for key, label, target in [
        ("copy", f"psql \\copy of {rows:,} pre-made coupons", None),
        ("generate", f"codes_generate({rows:,})", 1.3),
        ("import", f"codes_import_csv({rows:,}-row CSV)", 1.5),
    ]:
        best = min(timings[key])
        runs = " ".join(f"{t:.2f}" for t in timings[key])
        ratio = best / copy
        verdict = "" if target is None else f"<= {target} {'ok' if ratio <= target else 'MISSED'}"
        print(f"{label:<40} {best:>8.2f} {runs:>20} {ratio:>8.2f} {verdict:>8}")

    print()
    print(
        f"{'memory of one process':<40} {'rows':>10} {'peak RSS MB':>12} {'RSS growth MB':>14} {'Python peak MB':>15}"
    )
    for kind, sizes in [
        ("generate", [(rows // 10, str(rows // 10)), (rows, str(rows))]),
        ("import", [(rows // 10, str(small_csv)), (rows, str(full_csv))]),
    ]:
        for count, arg in sizes:
            reset_table()
            figures = measure_in_child(database["NAME"], kind, arg)
            print(
                f"{'codes_' + kind:<40} {count:>10,} {figures['peak_rss_mb']:>12.1f} "
                f"{figures['rss_growth_mb']:>14.1f} {figures['python_peak_mb']:>15.1f}"
            )


def write_files(book, *, premade: Path, full_csv: Path, small_csv: Path, rows: int) -> None:
    """Pre-made coupons of the book for COPY, in COPY's text format, and CSV
    files of other codes for the import."""
    from coupons.generation import random_code_rows
    from coupons.sort_keys import random_sort_keys

    now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime()).encode()
    prefix = b"%d\t%d\t" % (book.pk, book.partner_id)
    with premade.open("wb") as copy_file, full_csv.open("wb") as csv_file, small_csv.open("wb") as small_file:
        csv_file.write(b"code\n")
        small_file.write(b"code\n")
        written = 0
        while written < rows:
            batch = min(100_000, rows - written)
            generated = random_code_rows("####-####-####", random_sort_keys(batch, above=-1))
            for line in generated.splitlines():
                code, key = line.split(b"\t")
                copy_file.write(b"%s%s\tavailable\t0\t%s\t%s\t%s\n" % (prefix, code, key, now, now))
            imported = random_code_rows("IMP-####-####-####", [0] * batch)
            codes_only = b"".join(line.split(b"\t")[0] + b"\n" for line in imported.splitlines())
            csv_file.write(codes_only)
            if written < rows // 10:
                small_file.write(b"".join(codes_only.splitlines(keepends=True)[: rows // 10 - written]))
            written += batch


def psql_copy(database: dict, premade: Path) -> None:
    with premade.open("rb") as rows:
        subprocess.run(
            [*psql_command(database), "-c", f"\\copy coupons_coupon ({COLUMNS}) FROM STDIN"],
            stdin=rows,
            env=psql_env(database),
            check=True,
        )


def import_file(codes_import_csv, book, path: Path) -> None:
    from couponsite.actors import Actor

    with path.open("rb") as stream:
        codes_import_csv(actor=Actor.system("benchmark"), book=book, stream=stream)


def reset_table() -> None:
    """An empty table, vacuumed and checkpointed, so that no clean-up or
    write-back of the last run is left to slow the next one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE coupons_coupon CASCADE")
        cursor.execute("VACUUM ANALYZE coupons_coupon")
        cursor.execute("CHECKPOINT")


def check_count(expected: int) -> None:
    from coupons.models import Coupon

    found = Coupon.objects.count()
    if found != expected:
        raise RuntimeError(f"expected {expected} coupons, found {found}")


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def measure_in_child(database_name: str, kind: str, arg: str) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", database_name, kind, arg],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def child(database_name: str, kind: str, arg: str) -> None:
    """Run one generation or import and print its memory figures as JSON."""
    use_database(database_name)
    from books.models import Book
    from coupons.generation import codes_generate
    from coupons.imports import codes_import_csv
    from couponsite.actors import Actor

    book = Book.objects.get(name="Benchmark")
    before = max_rss_mb()
    tracemalloc.start()
    if kind == "generate":
        codes_generate(actor=Actor.system("benchmark"), book=book, count=int(arg))
    else:
        import_file(codes_import_csv, book, Path(arg))
    python_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    after = max_rss_mb()
    print(json.dumps({"peak_rss_mb": after, "rss_growth_mb": after - before, "python_peak_mb": python_peak}))


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


if __name__ == "__main__":
    main()
