"""A partner's own codes added to a book, all or nothing, at database speed.

Rows stream with ``COPY`` into a temporary staging table with their line
numbers; a query then finds every row that cannot go in (malformed, already a
code of the partner, repeated), and only a clean file moves into
``coupons_coupon``. One transaction: a failure or Ctrl-C stores nothing, and
memory stays flat because the rows wait in the staging table, not in Python.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable
from typing import IO, Any

from django.db import IntegrityError, connection, transaction
from psycopg import sql

from books.codes import CODE_PATTERN_RE, CODE_REGEX, code_problem
from books.models import Book
from coupons.csv_input import Rows, csv_rows, list_rows
from coupons.events import CodesAddedMethod, event_codes_added
from coupons.sort_keys import RANDOM_KEY, NewSortKeys
from coupons.staging import BATCH_SIZE, COPY_CHUNK, book_parameters, create_staging, insert_from_staging
from couponsite.actors import Actor
from couponsite.bounds import REJECTED_ROWS_LISTED_MAX
from couponsite.db import bulk_timeouts
from couponsite.errors import InvalidInput

Progress = Callable[[int], None]

REPORTED_VALUE_MAX_LENGTH = 100

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


def codes_import(
    *,
    book: Book,
    codes: Iterable[str],
    actor: Actor,
    method: CodesAddedMethod = CodesAddedMethod.UPLOAD,
    max_count: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Add the given codes to the book, all or none; item n is reported as line n."""
    added = Added(actor=actor, method=method)
    return _import_rows(
        book=book, rows=list_rows(codes), source="codes", added=added, max_count=max_count, progress=progress
    )


def codes_import_csv(
    *,
    book: Book,
    stream: IO[bytes],
    actor: Actor,
    method: CodesAddedMethod = CodesAddedMethod.UPLOAD,
    max_count: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Add the codes of a CSV file (``coupons.csv_input.csv_rows``) to the book,
    all or none. ``max_count`` caps one call (the API's and the admin's; the
    operator's commands have none), counted as the rows are read. Either way
    the load is recorded as a ``codes_added`` event of ``actor``, by ``method``
    (``import`` for the operator's command, ``upload`` otherwise)."""
    added = Added(actor=actor, method=method)
    return _import_rows(
        book=book, rows=csv_rows(stream), source="file", added=added, max_count=max_count, progress=progress
    )


@dataclasses.dataclass(frozen=True)
class Added:
    """Who adds the codes, and how: the ``codes_added`` event's."""

    actor: Actor
    method: CodesAddedMethod


def _import_rows(
    *, book: Book, rows: Rows, source: str, added: Added, max_count: int | None, progress: Progress | None
) -> int:
    with bulk_timeouts(), transaction.atomic(), connection.cursor() as cursor:
        keys = NewSortKeys(cursor, book=book)
        staging = create_staging(cursor, "line integer NOT NULL, code text NOT NULL, sort_key bigint NOT NULL")
        if max_count is not None:
            rows = _at_most(rows, max_count, source=source)
        staged, last_line, malformed = _stage(cursor, staging=staging, rows=rows, keys=keys)
        if staged == 0:
            raise InvalidInput.field(source, f"The {source} holds no codes.")
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
        event_codes_added(book=book, count=staged, method=added.method, actor=added.actor)
    return staged


def _at_most(rows: Rows, max_count: int, *, source: str) -> Rows:
    for count, row in enumerate(rows, start=1):
        if count > max_count:
            raise InvalidInput.field(source, f"At most {max_count:,} codes a request; split the {source}.")
        yield row


def _stage(cursor: Any, *, staging: sql.Identifier, rows: Rows, keys: NewSortKeys) -> tuple[int, int, int]:
    """COPY the rows into the staging table with their line numbers and sort
    keys; returns how many rows, the last line number, and how many are malformed."""
    staged = last_line = malformed = 0
    well_formed = CODE_PATTERN_RE.fullmatch
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
    insert = insert_from_staging(staging, tail="WHERE line > %(after)s AND line <= %(upto)s")
    for after in range(0, last_line, BATCH_SIZE):
        cursor.execute(insert, {**book_parameters(book), "after": after, "upto": after + BATCH_SIZE})
        if progress and cursor.rowcount:
            progress(cursor.rowcount)


def _reject(cursor: Any, *, staging: sql.Identifier, book: Book) -> None:
    """Raise InvalidInput listing the first rejected rows, and how many in all."""
    # The window and the join sort or hash every staged row.
    cursor.execute("SET LOCAL work_mem = '128MB'")
    cursor.execute(
        sql.SQL(REJECTED_ROWS_SQL).format(staging=staging),
        {
            "partner": book.partner_id,
            "code_regex": CODE_REGEX,
            "value_length": REPORTED_VALUE_MAX_LENGTH,
            "limit": REJECTED_ROWS_LISTED_MAX,
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
        return code_problem(code) or "not a valid code"
    if existing_book_id is not None:
        return f"already exists (book {existing_book_id})"
    return f"duplicate of line {first_line}"


def _shorten(value: str) -> str:
    if len(value) > REPORTED_VALUE_MAX_LENGTH:
        return value[:REPORTED_VALUE_MAX_LENGTH] + "…"
    return value
