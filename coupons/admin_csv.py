"""CSV export for the admin's read-only lists, safe to open in a spreadsheet
(see ``coupons.spreadsheet``). The file is streamed row by row: an export of a
whole table never sits in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db.models import Model, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from coupons.spreadsheet import spreadsheet_safe

CHUNK_SIZE = 2000


class _Echo:
    """A file whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([spreadsheet_safe(cell) for cell in header])
    for row in rows:
        yield writer.writerow([spreadsheet_safe(cell) for cell in row])


def csv_export_response(
    queryset: QuerySet, *, name: str, columns: Sequence[tuple[str, Callable[[Model], Any]]]
) -> StreamingHttpResponse:
    """A streamed CSV download of ``queryset``, one row per object."""
    header = [title for title, _ in columns]
    rows = ([value(obj) for _, value in columns] for obj in queryset.iterator(chunk_size=CHUNK_SIZE))
    filename = f"{name}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    return StreamingHttpResponse(
        csv_rows(header, rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
