"""A book's codes in bulk: generation, import and export, at database speed.

Both stream rows with ``COPY`` into a temporary staging table and move them
into ``coupons_coupon`` with ``INSERT ... SELECT``, everything inside one
transaction: a failure or Ctrl-C half way stores nothing. Memory stays flat:
generation works in batches, and an import keeps its rows in the staging
table, not in Python.

An export streams rows from a server-side cursor.

Creating a coupon writes no audit event: events record transitions of a
coupon's state, and a coupon's history starts at ``created_at``.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import secrets
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import sql

from books.models import Book
from coupons import codes
from coupons.models import Coupon, CouponState
from coupons.selectors import coupon_list_for_book
from coupons.spreadsheet import spreadsheet_safe
from couponsite.errors import InvalidInput
from couponsite.locks import LockKind, advisory_xact_lock

Progress = Callable[[int], None]

# The most codes one API request or admin form may add; the services and the
# operator commands take any number, in batches.
MAX_CODES_PER_REQUEST = 100_000
BATCH_SIZE = 100_000
# Rows are formatted and sent to COPY this many at a time.
COPY_CHUNK = 10_000
# A generation batch tops up codes lost to collisions at most this many times;
# a pattern that keeps colliding is too crowded to use.
MAX_TOP_UPS = 10
# Longer lines are refused: no CSV of codes has them, and it keeps memory flat.
MAX_LINE_BYTES = 64 * 1024
MAX_REPORTED_ROWS = 100
REPORTED_VALUE_MAX_LENGTH = 100

# New sort keys are drawn above the book's watermark. When fewer keys than
# this are left above it, or fewer than this factor per new code, the book's
# available coupons are re-keyed over the whole range instead.
MIN_KEY_ROOM = 2**40
MIN_KEY_ROOM_PER_CODE = 2**24

# A CSPRNG 63-bit key drawn by PostgreSQL: gen_random_uuid() uses
# pg_strong_random(). The first 4 and last 12 hex digits of a version 4 UUID are
# all random bits.
RANDOM_KEY = sql.SQL(
    "(('x' || left(gen_random_uuid()::text, 4) || right(gen_random_uuid()::text, 12))::bit(64)::bigint"
    " & 9223372036854775807)"
)

INSERT_SQL = """
INSERT INTO coupons_coupon (book_id, partner_id, code, state, redemption_count, sort_key, created_at, updated_at)
SELECT %(book)s, %(partner)s, code, 'available', 0, sort_key, now(), now()
FROM {staging} {tail}
"""


def codes_generate(*, book: Book, count: int, pattern: str | None = None, progress: Progress | None = None) -> int:
    """Add ``count`` new random codes of ``pattern`` (the book's by default) to
    the book; returns how many were created, always ``count``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        detail = "count must be a positive integer."
        raise InvalidInput(detail, errors=[{"field": "count", "detail": detail}])
    pattern = book.code_pattern if pattern is None else pattern
    with transaction.atomic(), connection.cursor() as cursor:
        keys = _NewSortKeys(cursor, book=book)
        existing = Coupon.objects.filter(book=book).count()
        codes.check_keyspace(pattern=pattern, codes_after=existing + count)
        keys.make_room(adding=count)
        staging = _create_staging(cursor, "code text NOT NULL, sort_key bigint NOT NULL")
        created = 0
        while created < count:
            batch = min(BATCH_SIZE, count - created)
            _generate_batch(cursor, staging=staging, book=book, pattern=pattern, count=batch, keys=keys)
            created += batch
            if progress:
                progress(batch)
        keys.finish()
        cursor.execute(sql.SQL("DROP TABLE {}").format(staging))
    return created


def _generate_batch(
    cursor: Any, *, staging: sql.Identifier, book: Book, pattern: str, count: int, keys: _NewSortKeys
) -> None:
    """Insert exactly ``count`` new codes, drawing again for those that collide
    with an existing code of the partner (or with each other)."""
    ids = {"book": book.pk, "partner": book.partner_id}
    missing = count
    for _ in range(1 + MAX_TOP_UPS):
        with cursor.copy(sql.SQL("COPY {} (code, sort_key) FROM STDIN").format(staging)) as copy:
            for start in range(0, missing, COPY_CHUNK):
                copy.write(codes.random_code_rows(pattern, keys.draw(min(COPY_CHUNK, missing - start))))
        # With the keyspace rule a collision is rare, and a plain INSERT is
        # cheaper than ON CONFLICT's speculative one: try it first.
        try:
            with transaction.atomic():
                cursor.execute(_insert_sql(staging, tail=""), ids)
        except IntegrityError:
            cursor.execute(_insert_sql(staging, tail="ON CONFLICT DO NOTHING"), ids)
        missing -= cursor.rowcount
        cursor.execute(sql.SQL("TRUNCATE {}").format(staging))
        if missing == 0:
            return
    detail = f"Pattern {pattern!r} is too crowded: new codes keep colliding with the partner's existing codes."
    raise InvalidInput(detail, errors=[{"field": "pattern", "detail": detail}])


def codes_import(*, book: Book, codes: Iterable[str], progress: Progress | None = None) -> int:
    """Add the given codes to the book, all or none; item n is reported as line n."""
    return _import_rows(book=book, rows=_list_rows(codes), source="codes", progress=progress)


def codes_import_csv(*, book: Book, stream: IO[bytes], progress: Progress | None = None) -> int:
    """Add the codes of a CSV file to the book, all or none.

    One code a row, in the first column (other columns are ignored); an
    optional first row ``code`` (any case) is a header; rows with nothing but
    blanks are skipped. The file must be UTF-8 (a byte order mark is allowed).
    """
    return _import_rows(book=book, rows=_csv_rows(stream), source="file", progress=progress)


def _list_rows(items: Iterable[object]) -> Iterator[tuple[int, str]]:
    for line, item in enumerate(items, start=1):
        if not isinstance(item, str):
            error = {"line": line, "value": repr(item), "reason": "not a string"}
            raise InvalidInput(f"Item {line} is not a string.", errors=[error])
        yield line, item.strip()


def _csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, trimmed first cell) of each non-blank row, header skipped."""
    reader = csv.reader(_text_lines(stream))
    first = True
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            value = row[0].strip()
            if first and value.casefold() == "code":
                first = False
                continue
            first = False
            yield reader.line_num, value
    except csv.Error as error:
        raise _unreadable(f"The file is not a readable CSV (line {reader.line_num}): {error}.") from error


def _text_lines(stream: IO[bytes]) -> Iterator[str]:
    """The file's lines, decoded one by one so that errors name their line,
    and bounded in length so that memory stays flat whatever the input."""
    binary = stream if isinstance(stream, io.BufferedIOBase) else io.BufferedReader(_RawReader(stream))
    for number, raw in enumerate(iter(functools.partial(binary.readline, MAX_LINE_BYTES + 1), b""), start=1):
        if b"\x00" in raw:
            raise _unreadable(f"Line {number} holds NUL bytes: the file looks binary, not a CSV of codes.")
        if len(raw) > MAX_LINE_BYTES:
            raise _unreadable(f"Line {number} is longer than {MAX_LINE_BYTES:,} bytes: not a CSV of codes.")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _unreadable(f"Line {number} is not UTF-8 text.") from error
        yield line.removeprefix("\ufeff") if number == 1 else line


class _RawReader(io.RawIOBase):
    """A readable raw stream over any object with ``read(n)`` (an uploaded file)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _unreadable(detail: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": "file", "detail": detail}])


def _import_rows(*, book: Book, rows: Iterator[tuple[int, str]], source: str, progress: Progress | None) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        keys = _NewSortKeys(cursor, book=book)
        staging = _create_staging(cursor, "line integer NOT NULL, code text NOT NULL, sort_key bigint NOT NULL")
        staged, last_line, malformed = _stage_import(cursor, staging=staging, rows=rows, keys=keys)
        if staged == 0:
            detail = f"The {source} holds no codes."
            raise InvalidInput(detail, errors=[{"field": source, "detail": detail}])
        if malformed:
            _reject(cursor, staging=staging, book=book)
        if keys.make_room(adding=staged):
            # The keys staged were drawn above the old watermark.
            cursor.execute(sql.SQL("UPDATE {} SET sort_key = {}").format(staging, RANDOM_KEY))
        try:
            with transaction.atomic():
                _insert_staged(cursor, staging=staging, book=book, last_line=last_line, progress=progress)
        except IntegrityError:
            # A duplicate, in the rows or of an existing code (perhaps one
            # committed by another upload meanwhile): find and report them all.
            _reject(cursor, staging=staging, book=book)
        keys.finish()
        cursor.execute(sql.SQL("DROP TABLE {}").format(staging))
    return staged


def _stage_import(
    cursor: Any, *, staging: sql.Identifier, rows: Iterator[tuple[int, str]], keys: _NewSortKeys
) -> tuple[int, int, int]:
    """COPY the rows into the staging table with their line numbers and sort
    keys; returns how many rows, the last line number, and how many are malformed."""
    staged = last_line = malformed = 0
    well_formed = codes.CODE_PATTERN_RE.fullmatch
    with cursor.copy(sql.SQL("COPY {} (line, code, sort_key) FROM STDIN").format(staging)) as copy:
        while chunk := list(itertools.islice(rows, COPY_CHUNK)):
            lines = []
            for (line, code), sort_key in zip(chunk, keys.draw(len(chunk)), strict=True):
                if not well_formed(code):
                    malformed += 1
                    code = _copy_escape(code)
                lines.append(f"{line}\t{code}\t{sort_key}\n")
            copy.write("".join(lines))
            staged += len(chunk)
            last_line = chunk[-1][0]
    return staged, last_line, malformed


def _copy_escape(value: str) -> str:
    """A malformed value made safe for COPY's text format: it is only reported,
    so NUL (which PostgreSQL text cannot hold) and lone surrogates may change."""
    value = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _insert_staged(
    cursor: Any, *, staging: sql.Identifier, book: Book, last_line: int, progress: Progress | None
) -> None:
    # Line numbers rise but may skip (blank CSV lines): batches are line ranges.
    cursor.execute(sql.SQL("CREATE INDEX ON {} (line)").format(staging))
    insert = _insert_sql(staging, tail="WHERE line > %(after)s AND line <= %(upto)s")
    for after in range(0, last_line, BATCH_SIZE):
        params = {"book": book.pk, "partner": book.partner_id, "after": after, "upto": after + BATCH_SIZE}
        cursor.execute(insert, params)
        if progress and cursor.rowcount:
            progress(cursor.rowcount)


def _insert_sql(staging: sql.Identifier, *, tail: str) -> sql.Composed:
    return sql.SQL(INSERT_SQL).format(staging=staging, tail=sql.SQL(tail))


# Every staged row that cannot go in, with why: malformed, already a code of
# the partner (in any book, any case), or a repeat of an earlier row.
REJECTED_ROWS_SQL = """
WITH staged AS (
    SELECT line, code, min(line) OVER (PARTITION BY upper(code)) AS first_line
    FROM {staging}
), rejected AS (
    SELECT staged.line, staged.code, staged.first_line, existing.book_id AS existing_book_id,
           staged.code !~ %(code_regex)s AS malformed
    FROM staged
    LEFT JOIN coupons_coupon existing
        ON upper(existing.code) = upper(staged.code) AND existing.partner_id = %(partner)s
)
SELECT line, left(code, %(value_length)s + 1), first_line, existing_book_id, malformed, count(*) OVER ()
FROM rejected
WHERE malformed OR existing_book_id IS NOT NULL OR first_line < line
ORDER BY line
LIMIT %(limit)s
"""


def _reject(cursor: Any, *, staging: sql.Identifier, book: Book) -> None:
    """Raise InvalidInput listing the first rejected rows, and how many in all."""
    # The window and the join sort or hash every staged row.
    cursor.execute("SET LOCAL work_mem = '128MB'")
    cursor.execute(
        sql.SQL(REJECTED_ROWS_SQL).format(staging=staging),
        {
            "partner": book.partner_id,
            "code_regex": codes.CODE_REGEX,
            "value_length": REPORTED_VALUE_MAX_LENGTH,
            "limit": MAX_REPORTED_ROWS,
        },
    )
    found = cursor.fetchall()
    if not found:
        raise InvalidInput("The codes could not be stored; nothing was imported. Try again.")
    errors = [
        {"line": line, "value": _shorten(code), "reason": _reason(code, first_line, existing_book_id, malformed)}
        for line, code, first_line, existing_book_id, malformed, _ in found
    ]
    total = found[0][-1]
    shown = f"; the first {len(errors)} are listed" if total > len(errors) else ""
    detail = f"{total} rows are not valid codes or are duplicates{shown}; nothing was imported."
    raise InvalidInput(detail, errors=errors)


def _reason(code: str, first_line: int, existing_book_id: int | None, malformed: bool) -> str:
    if malformed:
        return codes.code_problem(code) or "not a valid code"
    if existing_book_id is not None:
        return f"already exists (book {existing_book_id})"
    return f"duplicate of line {first_line}"


def _shorten(value: str) -> str:
    if len(value) > REPORTED_VALUE_MAX_LENGTH:
        return value[:REPORTED_VALUE_MAX_LENGTH] + "…"
    return value


def _create_staging(cursor: Any, columns: str) -> sql.Identifier:
    # A fresh name per call: one connection may run several loads in one
    # outer transaction (tests do), and ON COMMIT DROP only drops at the end.
    staging = sql.Identifier(f"coupons_staging_{secrets.token_hex(6)}")
    cursor.execute(sql.SQL(f"CREATE TEMPORARY TABLE {{}} ({columns}) ON COMMIT DROP").format(staging))
    return staging


REKEY_OLD_AVAILABLE_SQL = sql.SQL(
    "UPDATE coupons_coupon SET sort_key = {} WHERE book_id = %s AND state = %s AND id <= %s"
).format(RANDOM_KEY)

# Uniform in (watermark, max]: scaling a 63-bit draw errs by under 2**-62 in
# probability, which no sequence of picks can tell apart.
REDRAW_OVERTAKEN_SQL = sql.SQL("""
UPDATE coupons_coupon
SET sort_key = %(watermark)s + 1 + floor({} ::numeric * (%(max)s - %(watermark)s) / (%(max)s::numeric + 1))::bigint
WHERE book_id = %(book)s AND state = %(available)s AND id > %(last_old_id)s AND sort_key <= %(watermark)s
""").format(RANDOM_KEY)


class _NewSortKeys:
    """Sort keys for coupons added to a book, fair to the coupons already in it.

    Random assignment takes the available coupon with the lowest key, so every
    key below the book's lowest available key has been handed out. The largest
    of those is the watermark: the book's remaining coupons have keys uniform
    above it, and new keys drawn uniform above it are exactly as likely to come
    next. Keys drawn over the whole range instead would put most new codes
    ahead of the remaining old ones.

    Created first in the load's transaction: it takes the book's codes lock so
    that two loads of one book run one after the other.
    """

    def __init__(self, cursor: Any, *, book: Book) -> None:
        advisory_xact_lock(LockKind.BOOK_CODES, book.pk)
        self._cursor = cursor
        self._book_id = book.pk
        # Every coupon added from here on gets a larger id (ids come from one sequence).
        cursor.execute("SELECT coalesce(max(id), 0) FROM coupons_coupon")
        self._last_old_id = cursor.fetchone()[0]
        self._lowest_available = self._lowest_available_key()
        self.watermark = self._watermark_below(self._lowest_available)
        self._rekey = False

    def make_room(self, *, adding: int) -> bool:
        """When the range above the watermark is short, draw new keys over the
        whole range and re-key the book's available coupons the same way at
        :meth:`finish`; returns whether it will."""
        room = codes.SORT_KEY_MAX - self.watermark
        if room >= max(MIN_KEY_ROOM, adding * MIN_KEY_ROOM_PER_CODE):
            return False
        self.watermark = -1
        self._rekey = True
        return True

    def draw(self, count: int) -> list[int]:
        return codes.random_sort_keys(count, above=self.watermark)

    def finish(self) -> None:
        """Last step before commit: re-key, or draw again the new keys that
        random assignments have overtaken meanwhile.

        Both happen at the end because the load's new coupons stay invisible
        until commit while assignments go on taking the old ones, raising the
        watermark; and because rows re-keyed stay locked until commit, which
        random assignment (SKIP LOCKED) would read as an exhausted book.
        """
        if self._rekey:
            self._cursor.execute(REKEY_OLD_AVAILABLE_SQL, [self._book_id, CouponState.AVAILABLE, self._last_old_id])
            return
        if self._lowest_available is None:
            # No old coupon was available, so none can have been taken meanwhile.
            return
        watermark = self._watermark_below(self._lowest_available_key())
        if watermark <= self.watermark:
            return
        self._cursor.execute(
            REDRAW_OVERTAKEN_SQL,
            {
                "watermark": watermark,
                "max": codes.SORT_KEY_MAX,
                "book": self._book_id,
                "available": CouponState.AVAILABLE,
                "last_old_id": self._last_old_id,
            },
        )

    def _lowest_available_key(self) -> int | None:
        self._cursor.execute(
            "SELECT min(sort_key) FROM coupons_coupon WHERE book_id = %s AND state = %s AND id <= %s",
            [self._book_id, CouponState.AVAILABLE, self._last_old_id],
        )
        return self._cursor.fetchone()[0]

    def _watermark_below(self, lowest_available: int | None) -> int:
        """The largest old key below ``lowest_available`` (the largest old key
        when None), or -1 when there is none."""
        query = "SELECT max(sort_key) FROM coupons_coupon WHERE book_id = %s AND id <= %s"
        params = [self._book_id, self._last_old_id]
        if lowest_available is not None:
            query += " AND sort_key < %s"
            params.append(lowest_available)
        self._cursor.execute(query, params)
        highest = self._cursor.fetchone()[0]
        return -1 if highest is None else highest


EXPORT_COLUMNS = ("code", "state", "user_id", "assigned_at", "redemption_count")
EXPORT_CHUNK = 5_000


def codes_export_rows(*, book: Book, state: str | None = None) -> Iterator[list[str | int]]:
    """The book's coupons as CSV rows (``EXPORT_COLUMNS``), oldest first,
    streamed from a server-side cursor.

    The state is the one partners see (an expired lock reads as assigned), and
    so is the ``state`` filter. Text cells that a spreadsheet would run as a
    formula get a leading single quote (``coupons.spreadsheet``).
    """
    now = timezone.now()
    rows = (
        coupon_list_for_book(book=book, state=state)
        .values_list("code", "state", "user_id", "assigned_at", "redemption_count", "locked_until")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    for code, coupon_state, user_id, assigned_at, redemption_count, locked_until in rows:
        if coupon_state == CouponState.LOCKED and locked_until <= now:
            coupon_state = CouponState.ASSIGNED
        yield [
            spreadsheet_safe(code),
            coupon_state,
            spreadsheet_safe(user_id),
            assigned_at.isoformat() if assigned_at else "",
            redemption_count,
        ]
