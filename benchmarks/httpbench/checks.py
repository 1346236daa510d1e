"""After the load, in SQL: every assignment and redemption it made is exact.

Two kinds of check. Per run of a write: the events written during the run
match what wrk saw answered 2xx, one each, and nothing was done twice. Over the
whole database at the end: the invariants the product promises (DESIGN.md,
"Concurrency") hold for every coupon.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from httpbench.load import Run


@dataclasses.dataclass
class Check:
    name: str
    passed: bool
    detail: str
    tally: dict[str, int] = dataclasses.field(default_factory=dict)  # added up over the runs of one name


def merged(checks: list[Check]) -> list[Check]:
    """One line per name: the runs of one endpoint and variant add up."""
    groups: dict[str, list[Check]] = collections.defaultdict(list)
    for check in checks:
        groups[check.name].append(check)
    result = []
    for name, group in groups.items():
        if len(group) == 1 or not group[0].tally:
            result.extend(group)
            continue
        tally: collections.Counter[str] = collections.Counter()
        for check in group:
            tally.update(check.tally)
        problems = "; ".join(check.detail for check in group if not check.passed)
        detail = _tally_text(tally) + (f"; FAILED: {problems}" if problems else "")
        result.append(Check(name, all(check.passed for check in group), detail, dict(tally)))
    return result


def _tally_text(tally: dict[str, int]) -> str:
    return (
        f"{tally['runs']} runs, {tally['ok']:,} answered 2xx, {tally['events']:,} events "
        f"({tally['late']} done after wrk stopped reading, of {tally['unanswered']} unanswered)"
    )


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _count(sql: str, params: list[Any] | None = None) -> int:
    return _rows(sql, params)[0][0]


def run_accounting(*, label: str, tag: str, action: str, run: Run, after_event: int, key_prefix: str | None) -> Check:
    """The run's events of ``action`` against its 2xx answers.

    wrk counts only the answers it read before its time was up; a request it
    had sent but not yet read may still have been done by the server. So the
    events must be exactly the users answered 2xx, once each, plus at most as
    many as were left unanswered, and those once each too.
    """
    events = dict(
        _rows(
            "SELECT user_id, count(*) FROM coupons_couponevent WHERE id > %s AND action = %s GROUP BY user_id",
            [after_event, action],
        )
    )
    others = _rows(
        "SELECT action, count(*) FROM coupons_couponevent WHERE id > %s AND action <> %s GROUP BY action",
        [after_event, action],
    )
    ok = run.ok_users
    problems = []
    doubles = sum(1 for n in events.values() if n > 1)
    if doubles:
        problems.append(f"{doubles} users with more than one {action} event")
    if len(set(ok)) != len(ok):
        problems.append(f"{len(ok) - len(set(ok))} users answered 2xx twice")
    missing = set(ok) - set(events)
    if missing:
        problems.append(f"{len(missing)} answered 2xx without an event, e.g. {sorted(missing)[:3]}")
    late = len(set(events) - set(ok))
    if late > run.unanswered:
        problems.append(f"{late} events beyond the {run.unanswered} requests left unanswered")
    if others:
        problems.append(f"unexpected events {dict(others)}")
    if action == "redeem":
        redemptions, distinct = _rows(
            "SELECT count(redemption_id), count(DISTINCT redemption_id) FROM coupons_couponevent "
            "WHERE id > %s AND action = 'redeem'",
            [after_event],
        )[0]
        if not redemptions == distinct == sum(events.values()):
            problems.append(f"{sum(events.values())} redeem events but {distinct} distinct redemptions")
    if key_prefix is not None and run.non_2xx == 0:
        stored = _count("SELECT count(*) FROM api_idempotencykey WHERE key LIKE %s", [key_prefix + "%"])
        if stored != sum(events.values()):
            problems.append(f"{stored} stored idempotency keys for {sum(events.values())} events")
    tally = {
        "runs": 1,
        "ok": len(ok),
        "events": sum(events.values()),
        "late": late,
        "unanswered": run.unanswered,
    }
    detail = _tally_text(tally) if not problems else f"run {tag}: " + "; ".join(problems)
    return Check(f"{label}: each {action} event is one 2xx answer, none twice", not problems, detail, tally)


def invariants() -> list[Check]:
    """The product's promises, over every coupon of the scratch database."""
    checks = [
        (
            "no coupon assigned twice: each held coupon has exactly one assign event, to its holder",
            """
            SELECT count(*) FROM coupons_coupon c
            LEFT JOIN (
                SELECT coupon_id, count(*) AS n, min(user_id) AS first_user
                FROM coupons_couponevent WHERE action = 'assign' GROUP BY coupon_id
            ) e ON e.coupon_id = c.id
            WHERE (
                c.state IN ('assigned', 'locked', 'redeemed')
                AND (e.n IS DISTINCT FROM 1 OR e.first_user <> c.user_id)
            )
               OR (c.state = 'available' AND e.n IS NOT NULL)
            """,
        ),
        (
            "redemption_count equals the redemptions not rolled back, for every coupon",
            """
            SELECT count(*) FROM coupons_coupon c
            LEFT JOIN (
                SELECT coupon_id, count(*) AS n FROM redemptions_redemption
                WHERE rolled_back_at IS NULL GROUP BY coupon_id
            ) r ON r.coupon_id = c.id
            WHERE c.redemption_count <> coalesce(r.n, 0)
            """,
        ),
        (
            "no coupon redeemed more than its book allows",
            """
            SELECT count(*) FROM coupons_coupon c JOIN books_book b ON b.id = c.book_id
            WHERE b.max_redemptions_per_coupon IS NOT NULL AND c.redemption_count > b.max_redemptions_per_coupon
            """,
        ),
        (
            "no user holds more than the book's max_codes_per_user",
            """
            SELECT count(*) FROM (
                SELECT c.book_id, c.user_id, count(*) AS n, b.max_codes_per_user AS most
                FROM coupons_coupon c JOIN books_book b ON b.id = c.book_id
                WHERE c.state IN ('assigned', 'locked', 'redeemed') AND b.max_codes_per_user IS NOT NULL
                GROUP BY c.book_id, c.user_id, b.max_codes_per_user
            ) held WHERE n > most
            """,
        ),
        (
            "every coupon's state is the state its last event left it in",
            """
            SELECT count(*) FROM (
                SELECT DISTINCT ON (coupon_id) coupon_id, to_state FROM coupons_couponevent
                ORDER BY coupon_id, id DESC
            ) last JOIN coupons_coupon c ON c.id = last.coupon_id
            WHERE c.state <> last.to_state
            """,
        ),
    ]
    results = []
    for name, sql in checks:
        wrong = _count(sql)
        results.append(Check(name, wrong == 0, "none wrong" if wrong == 0 else f"{wrong:,} coupons or users wrong"))
    return results
