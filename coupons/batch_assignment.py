"""Random assignment for many users of one book at once: every rule of the
single call (the book open, each user's ``max_codes_per_user``, exhaustion),
in a few set-based statements and two advisory locks.

The batch takes the book's ``BOOK_ASSIGNMENTS`` lock exclusively, which each
single assignment of the book takes shared before its (book, user) lock. So
while the batch counts what its users hold and assigns, no other assignment
of the book runs, and the counts stay exact without a lock per user (the
lock table is shared and finite). Lock, redeem and the other transitions
never raise a user's count, so they go on meanwhile. Before it, the
partner's ``PARTNER_BATCHES`` lock, shared: an erasure of an end user takes
it exclusively (``coupons.erasure``), as no lock names the batch's users.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from books.models import Book, Partner
from coupons.lifecycle import EVENTS_FROM_CHANGED_SQL, TransitionSQL, changed_columns, event_parameters
from coupons.locked_reads import book_for_batch_assignment, held_count_sql
from coupons.models import Coupon
from coupons.services import book_ensure_open, book_release_expired_assignments
from couponsite.actors import Actor
from couponsite.bounds import BATCH_USERS_MAX, user_id_problem
from couponsite.errors import AssignmentLimitReached, BookExhausted, InvalidInput, ServiceError

ASSIGN = TransitionSQL.of("assign")
# Each user in request order, what they hold of the book (when it sets a
# limit), the users under the limit numbered in order, the book's next
# coupons in its secret random order numbered likewise, and slot n of each
# joined: one statement, with an event per coupon. The pick takes as many
# coupons as there are users (a known LIMIT plans an index join); those left
# over for users past their limit are only locked until the commit. Only what
# the assignment did not set comes back: parsing 1,000 rows of timestamps
# would cost more than the statement.
BATCH_ASSIGN_SQL = f"""
WITH wanted AS (
    SELECT user_id, position FROM unnest(%(user_ids)s::text[]) WITH ORDINALITY AS wanted(user_id, position)
), counted AS (
    SELECT wanted.user_id, wanted.position,
        CASE WHEN %(max_codes_per_user)s::integer IS NULL THEN 0 ELSE (
            SELECT count(*) FROM coupons_coupon held
            WHERE held.partner_id = %(partner_id)s AND held.user_id = wanted.user_id AND held.book_id = %(book_id)s
              AND {held_count_sql(held="held", ttl="%(ttl)s::integer")}
        ) END AS held
    FROM wanted
), eligible AS (
    SELECT user_id, row_number() OVER (ORDER BY position) AS slot FROM counted
    WHERE %(max_codes_per_user)s::integer IS NULL OR held < %(max_codes_per_user)s::integer
), pick AS (
    SELECT id, state, row_number() OVER (ORDER BY sort_key, id) AS slot FROM (
        SELECT id, state, sort_key FROM coupons_coupon
        WHERE book_id = %(book_id)s AND state IN ({ASSIGN.sources_sql})
        ORDER BY sort_key, id
        LIMIT %(users)s
        FOR UPDATE SKIP LOCKED
    ) AS next_coupons
), changed AS (
    UPDATE coupons_coupon AS coupon SET {ASSIGN.set_clause_with(user_id="eligible.user_id")}
    FROM pick JOIN eligible USING (slot) WHERE coupon.id = pick.id
    RETURNING {changed_columns("coupon")}, pick.state AS from_state, coupon.state AS to_state
), events AS (
    {EVENTS_FROM_CHANGED_SQL}
)
SELECT counted.held, changed.id, changed.code, changed.redemption_count, changed.metadata
FROM counted LEFT JOIN changed ON changed.user_id = counted.user_id
ORDER BY counted.position
"""  # noqa: S608 - built from the lifecycle table and the model's columns, values are parameters

Result = Coupon | ServiceError
# What a coupon just assigned is made of (the rest is deferred: never read).
ASSIGNED_FIELDS = [
    "id",
    "book_id",
    "partner_id",
    "code",
    "state",
    "user_id",
    "assigned_at",
    "lock_id",
    "locked_until",
    "redemption_count",
    "metadata",
]
METADATA = Coupon._meta.get_field("metadata")


def checked_batch_user_ids(user_ids: object) -> list[str]:
    """1 to ``BATCH_USERS_MAX`` distinct user ids, each valid; refused whole otherwise."""
    if not isinstance(user_ids, list) or not 1 <= len(user_ids) <= BATCH_USERS_MAX:
        raise InvalidInput.field("user_ids", f"user_ids: Must be a list of 1 to {BATCH_USERS_MAX:,} user ids.")
    errors, seen = [], set()
    for index, user_id in enumerate(user_ids):
        problem = user_id_problem(user_id)
        if problem is None and user_id in seen:
            problem = "Must not repeat an earlier user id."
        if problem:
            errors.append({"field": f"user_ids.{index}", "detail": problem})
        else:
            seen.add(user_id)
    if errors:
        raise InvalidInput(f"user_ids: {len(errors)} invalid or repeated user ids.", errors=errors[:100])
    return user_ids


def coupons_assign_batch(*, partner: Partner, book_id: int, user_ids: list[str], actor: Actor) -> list[Result]:
    """Give each user, in order, the book's next coupon in its secret random
    order, under every rule of ``coupon_assign_random``. Returns, per user,
    the coupon or the refusal (``assignment_limit_reached``,
    ``book_exhausted``); a refusal of the whole book (not found, closed) is
    raised instead."""
    user_ids = checked_batch_user_ids(user_ids)
    with transaction.atomic():
        book = book_for_batch_assignment(partner=partner, book_id=book_id)
        now = timezone.now()
        book_ensure_open(book, now=now)
        results = _assign(book=book, user_ids=user_ids, actor=actor, now=now)
        missing = [user_id for user_id, result in zip(user_ids, results, strict=True) if result is None]
        if missing and book.assignment_ttl_seconds is not None and book_release_expired_assignments(book=book):
            # Under the same lock: what the users hold has not changed.
            second = iter(_assign(book=book, user_ids=missing, actor=actor, now=now))
            results = [next(second) if result is None else result for result in results]
    exhausted = BookExhausted(f"Book {book.pk} has no available coupon left")
    return [exhausted if result is None else result for result in results]


def _assign(*, book: Book, user_ids: list[str], actor: Actor, now: datetime) -> list[Result | None]:
    """One run of ``BATCH_ASSIGN_SQL``: per user, the coupon, the limit's
    refusal, or None when the book had no coupon left for them."""
    parameters = {
        "user_ids": user_ids,
        "users": len(user_ids),
        "partner_id": book.partner_id,
        "book_id": book.pk,
        "max_codes_per_user": book.max_codes_per_user,
        "ttl": book.assignment_ttl_seconds,
        "at": now,
        "now": now,
        **event_parameters(transition=ASSIGN, actor=actor),
    }
    with connection.cursor() as cursor:
        cursor.execute(BATCH_ASSIGN_SQL, parameters)
        rows = cursor.fetchall()
    results: list[Result | None] = []
    for user_id, (held, coupon_id, code, redemption_count, metadata) in zip(user_ids, rows, strict=True):
        if coupon_id is not None:
            values = (coupon_id, book.pk, book.partner_id, code, ASSIGN.target, user_id, now, None, None)
            metadata = METADATA.from_db_value(metadata, None, connection)
            coupon = Coupon.from_db(connection.alias, ASSIGNED_FIELDS, (*values, redemption_count, metadata))
            coupon.book = book
            results.append(coupon)
        elif book.max_codes_per_user is not None and held >= book.max_codes_per_user:
            results.append(
                AssignmentLimitReached(f"The user already holds {held} coupons of this book, the most allowed")
            )
        else:
            results.append(None)
    return results
