"""The benchmark's data, made through the product's own services.

Lock and redeem need coupons already assigned, each to its own user: the
"ready pairs". Every coupon of the main book that is assigned, not locked and
never redeemed is one, whoever assigned it (the assign runs make many); the
pool is topped up with ``coupon_assign_random`` before a run that needs more,
so that every pair is valid data, with its ``assign`` event, and is sent once.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

# Users of the pairs made here, apart from those the API assigned.
PREPARED_USER_PREFIX = "prep"
_prepared = itertools.count()


def partner_with_key() -> tuple[Any, str]:
    """A partner and the plain text of a new API key of its."""
    from books.services import api_key_issue, partner_create

    partner = partner_create(name="HTTP benchmark")
    _, key = api_key_issue(partner=partner, name="benchmark")
    return partner, key


def book_with_codes(partner: Any, *, name: str, count: int) -> Any:
    """A book of ``count`` generated codes, one coupon per user at most (as
    most real books are: the per-user check is part of every assignment)."""
    from books.services import book_create
    from coupons.generation import codes_generate
    from couponsite.actors import Actor

    book = book_create(partner=partner, name=name, max_codes_per_user=1)
    codes_generate(actor=Actor.system("benchmark"), book=book, count=count)
    return book


def vacuum() -> None:
    """A vacuumed, analysed coupons table, so that no run pays for the dead
    rows a preparation left."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE coupons_coupon")
        cursor.execute("VACUUM ANALYZE coupons_couponevent")


def ready_pairs(book: Any, *, limit: int) -> list[tuple[str, str]]:
    """(code, user_id) of assigned coupons with no lock and no use taken."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT code, user_id FROM coupons_coupon
            WHERE book_id = %s AND state = 'assigned' AND lock_id IS NULL AND redemption_count = 0
            ORDER BY id LIMIT %s
            """,
            [book.pk, limit],
        )
        return cursor.fetchall()


def top_up_pairs(book: Any, *, wanted: int) -> int:
    """Assign coupons of the book to new users until ``wanted`` pairs are
    ready; how many were assigned. Commits do not wait for the disk here:
    durability is not what this data needs, and the preparation is untimed."""
    from django.db import connection

    from coupons.services import coupon_assign_random
    from couponsite.actors import Actor

    missing = wanted - len(ready_pairs(book, limit=wanted))
    if missing <= 0:
        return 0
    actor = Actor.system("benchmark")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('synchronous_commit', 'off', false)")
    try:
        for _ in range(missing):
            user_id = f"{PREPARED_USER_PREFIX}-{next(_prepared)}"
            coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=user_id, actor=actor)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('synchronous_commit', 'on', false)")
    print(f"  prepared {missing:,} pairs in {time.perf_counter() - started:.1f} s", flush=True)
    return missing


def write_pairs(pairs: list[tuple[str, str]], path: Path) -> Path:
    path.write_text("".join(f"{code}\t{user}\n" for code, user in pairs))
    return path


def write_codes(book: Any, path: Path, *, count: int) -> Path:
    """``count`` codes of the book for the reads (random codes, so id order is a random sample)."""
    from coupons.models import Coupon

    codes = Coupon.objects.filter(book=book).order_by("id").values_list("code", flat=True)[:count]
    path.write_text("".join(f"{code}\n" for code in codes))
    return path


def last_event_id() -> int:
    """The largest event id now: every event above it is written later (the
    benchmark is the only writer besides the server it drives)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM coupons_couponevent")
        return cursor.fetchone()[0]


def settle(*, timeout: float = 10.0) -> None:
    """Wait until the server has finished the requests wrk left in flight
    (it completes a request whose client has gone): no query of another
    session runs on the database for a few polls in a row."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    quiet = 0
    time.sleep(0.3)
    while quiet < 3 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND backend_type = 'client backend' AND state <> 'idle'
                """
            )
            busy = cursor.fetchone()[0]
        quiet = 0 if busy else quiet + 1
        time.sleep(0.1)
