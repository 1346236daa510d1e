"""CSV files for people: cells safe to open in a spreadsheet, streamed.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read as a formula by spreadsheet programs; partner metadata, user ids and
codes are outside data, so such a cell gets a leading single quote (OWASP's
advice for CSV injection). Codes may start with '-': such a code is written
as ``'-CODE``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db.models import Model, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000


def spreadsheet_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text of ``header`` and ``rows``, a line at a time, every cell safe."""
    writer = csv.writer(_Echo())
    yield writer.writerow([spreadsheet_safe(cell) for cell in header])
    for row in rows:
        yield writer.writerow([spreadsheet_safe(cell) for cell in row])


def csv_download(
    queryset: QuerySet, *, name: str, columns: Sequence[tuple[str, Callable[[Model], Any]]]
) -> StreamingHttpResponse:
    """A streamed CSV download of ``queryset``, one row per object: an export of
    a whole table never sits in memory."""
    header = [title for title, _ in columns]
    rows = ([value(obj) for _, value in columns] for obj in queryset.iterator(chunk_size=CHUNK_SIZE))
    filename = f"{name}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    return StreamingHttpResponse(
        csv_lines(header, rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
