"""Transaction-scoped PostgreSQL advisory locks, the one place they are taken.

Every state change takes one of these as the first statement of its
``transaction.atomic()`` block, before any row lock, so that two writers of the
same thing queue here instead of deadlocking on rows. Only
``pg_advisory_xact_lock`` is used: a session-scoped lock would outlive the
transaction, leak across pooled connections and could not span two requests.
"""

import enum
import hashlib

from django.db import connection

# Hashed into every key so that our keys stay apart from another
# application's locks on the same database. Never change it.
NAMESPACE = "coupon-book-service"


class LockKind(enum.IntEnum):
    """What a lock protects. Values are stored in nobody's data but must stay
    stable while two versions of the code run side by side: never renumber."""

    BOOK_USER = 1  # assignments of one book to one end user
    COUPON = 2  # lifecycle of one coupon
    BOOK_CODES = 3  # adding or re-keying a book's codes
    IDEMPOTENCY_KEY = 4  # one partner's idempotency key
    PARTNER_GENERATION = 5  # generating codes into any book of one partner (the keyspace rule counts them all)
    # Assignments in one book: shared by each single assignment (before its
    # BOOK_USER lock), exclusive for a batch, which counts many users' holdings
    # at once instead of taking one BOOK_USER lock per user.
    BOOK_ASSIGNMENTS = 6
    # One end user of one partner: shared by each single assignment (before
    # its book's locks), exclusive for the erasure of that user, so that no
    # assignment can give the erased id a coupon while its rows are rewritten.
    PARTNER_USER = 7
    # A partner's batch assignments: shared by each batch (before its book's
    # lock), exclusive for an erasure (a batch names up to 1,000 users: one
    # PARTNER_USER lock each would be too many).
    PARTNER_BATCHES = 8


class LockOutsideTransaction(RuntimeError):
    pass


def stable_key(kind: LockKind, *parts: object) -> int:
    """A signed 64-bit key: the first 8 bytes of a SHA-256 of the namespace,
    the kind and the parts, the same in every process and on every server.

    Python's ``hash()`` is salted per process, so it cannot be used here.
    """
    text = "\x1f".join(str(part) for part in (NAMESPACE, int(kind), *parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big", signed=True)


def stable_key_sql(kind: LockKind, *parts_sql: str) -> str:
    """``stable_key(kind, *parts)`` computed by PostgreSQL from SQL expressions,
    for a statement that finds what it locks (a coupon by its code) and locks
    it at once: the same key as Python's, so the two kinds of caller exclude
    each other."""
    text = " || chr(31) || ".join([f"'{NAMESPACE}'", f"'{int(kind)}'", *(f"({part})::text" for part in parts_sql)])
    return f"('x' || left(encode(sha256(convert_to({text}, 'UTF8')), 'hex'), 16))::bit(64)::bigint"


def ensure_in_transaction() -> None:
    """For a raw statement that takes an advisory lock: refuse outside ``atomic``."""
    if not connection.in_atomic_block:
        raise LockOutsideTransaction("advisory locks are taken inside transaction.atomic() only")


def advisory_xact_lock(kind: LockKind, *parts: object) -> None:
    """Block until the lock for ``(kind, *parts)`` is ours; it is released at
    commit or rollback of the current transaction."""
    ensure_in_transaction()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            [stable_key(kind, *parts)],
        )


def try_advisory_xact_lock(kind: LockKind, *parts: object) -> bool:
    """Take the lock for ``(kind, *parts)`` if it is free and say whether we
    got it; never waits. Released at commit or rollback like the blocking one."""
    ensure_in_transaction()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [stable_key(kind, *parts)])
        return bool(cursor.fetchone()[0])
