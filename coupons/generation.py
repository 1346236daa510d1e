"""Random codes for a book, generated in bulk at database speed.

Rows stream with ``COPY`` into a temporary staging table and move into
``coupons_coupon`` with ``INSERT ... SELECT``, all in one transaction: a
failure or Ctrl-C half way stores nothing. Memory stays flat: batches.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from psycopg import sql

from books.codes import ALPHABET, RANDOM_CHAR, charset_alphabet, check_keyspace, holds_sparsely, pattern_regex
from books.models import Book
from coupons.events import CodesAddedMethod, event_codes_added
from coupons.models import Coupon
from coupons.sort_keys import SORT_KEY_MAX, NewSortKeys
from coupons.staging import BATCH_SIZE, COPY_CHUNK, book_parameters, create_staging, insert_from_staging
from couponsite.actors import Actor
from couponsite.db import bulk_timeouts
from couponsite.errors import InvalidInput
from couponsite.locks import LockKind, advisory_xact_lock

Progress = Callable[[int], None]

# A generation batch tops up codes lost to collisions at most this many times;
# a pattern that keeps colliding is too crowded to use.
MAX_TOP_UPS = 10


# A CSPRNG call per character (secrets.choice) makes about 84,000 codes a
# second, slower than PostgreSQL takes them; random bytes drawn in bulk and
# mapped in C make well over a million (DESIGN.md).
@functools.cache
def _byte_mapping(alphabet: str) -> tuple[bytes, bytes]:
    """A translation table from random bytes to ``alphabet``, and the bytes to
    drop: for 31 characters, 248 = 8 x 31 bytes map evenly and the top 8 are
    dropped, so that every character stays exactly as likely as any other."""
    accepted = 256 - 256 % len(alphabet)
    return bytes(ord(alphabet[b % len(alphabet)]) for b in range(256)), bytes(range(accepted, 256))


def codes_generate(
    *,
    book: Book,
    count: int,
    actor: Actor,
    pattern: str | None = None,
    charset: str | None = None,
    max_count: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Add ``count`` new random codes of ``pattern`` and ``charset`` (the
    book's by default) to the book, recorded as a ``codes_added`` event of
    ``actor``; returns how many were created, always ``count``. ``max_count``
    caps one call (the API's and the admin's; the operator's commands have none)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInput.field("count", "count must be a positive integer.")
    if max_count is not None and count > max_count:
        raise InvalidInput.field("count", f"At most {max_count:,} codes a request.")
    pattern = book.code_pattern if pattern is None else pattern
    alphabet = charset_alphabet(book.charset if charset is None else charset)
    with bulk_timeouts(), transaction.atomic(), connection.cursor() as cursor:
        advisory_xact_lock(LockKind.PARTNER_GENERATION, book.partner_id)
        existing = _codes_of_shape(book=book, pattern=pattern, alphabet=alphabet, adding=count)
        check_keyspace(pattern=pattern, alphabet=alphabet, codes_after=existing + count)
        keys = NewSortKeys(cursor, book=book)
        keys.make_room(adding=count)
        staging = create_staging(cursor, "code text NOT NULL, sort_key bigint NOT NULL")
        created = 0
        while created < count:
            batch = min(BATCH_SIZE, count - created)
            _generate_batch(
                cursor, staging=staging, book=book, pattern=pattern, alphabet=alphabet, count=batch, keys=keys
            )
            created += batch
            if progress:
                progress(batch)
        keys.finish()
        cursor.execute(sql.SQL("DROP TABLE {}").format(staging))
        event_codes_added(book=book, count=created, method=CodesAddedMethod.GENERATE, actor=actor)
    return created


def _codes_of_shape(*, book: Book, pattern: str, alphabet: str, adding: int) -> int:
    """The partner's codes ``pattern`` could have made from ``alphabet``, in
    any of its books; 0 when even every coupon there is would leave it sparse
    (the highest id bounds their number), so that large patterns cost no count."""
    most = Coupon.objects.aggregate(most=Max("pk"))["most"] or 0
    if holds_sparsely(pattern=pattern, alphabet=alphabet, codes_at_most=most + adding):
        return 0
    shape = pattern_regex(pattern, alphabet)
    return Coupon.objects.filter(partner_id=book.partner_id, code__iregex=shape).count()


def _generate_batch(
    cursor: Any, *, staging: sql.Identifier, book: Book, pattern: str, alphabet: str, count: int, keys: NewSortKeys
) -> None:
    """Insert exactly ``count`` new codes, drawing again for those that collide
    with an existing code of the partner (or with each other)."""
    missing = count
    for _ in range(1 + MAX_TOP_UPS):
        with cursor.copy(sql.SQL("COPY {} (code, sort_key) FROM STDIN").format(staging)) as copy:
            for start in range(0, missing, COPY_CHUNK):
                copy.write(random_code_rows(pattern, keys.draw(min(COPY_CHUNK, missing - start)), alphabet))
        # With the keyspace rule a collision is rare, and a plain INSERT is
        # cheaper than ON CONFLICT's speculative one: try it first.
        try:
            with transaction.atomic():
                cursor.execute(insert_from_staging(staging, tail=""), book_parameters(book))
        except IntegrityError:
            cursor.execute(insert_from_staging(staging, tail="ON CONFLICT DO NOTHING"), book_parameters(book))
        missing -= cursor.rowcount
        cursor.execute(sql.SQL("TRUNCATE {}").format(staging))
        if missing == 0:
            return
    raise InvalidInput.field(
        "pattern", f"Pattern {pattern!r} is too crowded: new codes keep colliding with the partner's existing codes."
    )


def random_chars(count: int, alphabet: str = ALPHABET) -> bytes:
    """``count`` characters of ``alphabet``, each uniform and independent."""
    to_char, rejected = _byte_mapping(alphabet)
    chars = bytearray()
    while len(chars) < count:
        missing = count - len(chars)
        # Up to 2 % (10 characters) or 3 % (31) are rejected; draw a little
        # more so one round nearly always suffices.
        chars += secrets.token_bytes(missing + missing // 16 + 16).translate(to_char, rejected)
    del chars[count:]
    return bytes(chars)


def random_code_rows(pattern: str, sort_keys: Sequence[int], alphabet: str = ALPHABET) -> bytes:
    """One row per sort key in PostgreSQL's COPY text format: a new random code
    of ``pattern`` drawn from ``alphabet``, a tab, the key.

    Every row is built from one template and each column of random characters
    (and of key digits) is written with a single strided slice assignment, so
    the work per code happens in C.
    """
    count = len(sort_keys)
    key_digits = len(str(SORT_KEY_MAX))
    template = f"{pattern}\t{'0' * key_digits}\n".encode()
    width = len(template)
    rows = bytearray(template * count)
    positions = [i for i, char in enumerate(pattern) if char == RANDOM_CHAR]
    chars = random_chars(count * len(positions), alphabet)
    for n, position in enumerate(positions):
        rows[position::width] = chars[n * count : (n + 1) * count]
    # Zero-padded to a fixed width, which bigint input accepts.
    digits = "".join([f"{key:0{key_digits}d}" for key in sort_keys]).encode()
    key_start = len(pattern) + 1
    for n in range(key_digits):
        rows[key_start + n :: width] = digits[n::key_digits]
    return bytes(rows)
