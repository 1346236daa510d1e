"""Exports: recorded, queued, written by a worker into a file, offered when done.

A file is written under a temporary name and renamed into place only once
every row is in it, in the same step that marks the export done: a file that
can be downloaded is whole. A worker killed mid-export leaves the export
``running``; the queue retries the job (``couponsite.tasks``) and the export
starts over.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import logging
import os
import pickle
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from procrastinate.contrib.django import app

from books.models import Book
from coupons.models import CouponState
from couponsite.actors import Actor
from couponsite.errors import InvalidInput
from couponsite.spreadsheet import spreadsheet_safe
from exports import columns
from exports.models import Export, ExportKind, ExportStatus

logger = logging.getLogger(__name__)

# The direct connection (not through PgBouncer): a server-side cursor lives
# for the whole read (settings.QUEUE_DATABASE_URL).
READ_DATABASE = "queue"
SELECTION_SALT = "exports.selection"
RUN_EXPORT_TASK = "exports.run_export"  # exports/tasks.py
FAILED_MESSAGE = "The export could not be completed; no file was kept. Start a new export."


def export_book_codes_start(*, book: Book, actor: Actor, state: str | None = None, for_people: bool) -> Export:
    """Record an export of the book's coupons (all, or those in ``state`` as
    partners see it) and queue it. ``for_people``: spreadsheet-safe cells."""
    if state and state not in CouponState.values:
        raise InvalidInput.field("state", f"state must be one of {', '.join(CouponState.values)}.")
    description = f"Codes of book {book.pk} ({book.name})" + (f", {state}" if state else "")
    return _export_queue(
        Export(
            kind=ExportKind.BOOK_CODES,
            partner_id=book.partner_id,
            book=book,
            coupon_state=state or "",
            description=description[:200],
            spreadsheet_safe=for_people,
            actor_kind=actor.kind,
            actor_id=actor.identifier,
        )
    )


def export_selection_start(*, kind: ExportKind, queryset: QuerySet, description: str, actor: Actor) -> Export:
    """Record an export of the admin's selection of events or redemptions (a
    file for people) and queue it. The selection is kept as the query itself,
    signed, and read when the job runs."""
    return _export_queue(
        Export(
            kind=kind,
            selection=_selection_dump(queryset),
            description=description[:200],
            spreadsheet_safe=True,
            actor_kind=actor.kind,
            actor_id=actor.identifier,
        )
    )


def _export_queue(export: Export) -> Export:
    export.save()

    def defer() -> None:
        try:
            app.configure_task(RUN_EXPORT_TASK).defer(export_id=str(export.pk))
        except Exception:
            logger.exception("Export %s could not be queued", export.pk)
            _export_fail(export_id=export.pk, error="The export could not be queued. Start a new export.")

    transaction.on_commit(defer)
    return export


def export_path(export: Export) -> Path:
    return Path(settings.EXPORT_DIR) / export.file_name


def export_run(*, export_id: UUID | str) -> Export:
    """Write the export's file; run by the worker. An export already done or
    failed is left as it is (a job run twice finds its work done)."""
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.status in (ExportStatus.DONE, ExportStatus.FAILED):
            return export
        export.start()
        export.save(update_fields=["status", "started_at", "attempts", "rows"])
    path = export_path(export)
    partial = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = _write(export, partial)
        os.replace(partial, path)
    except Exception:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        logger.exception("Export %s failed", export.pk)
        _export_fail(export_id=export.pk, error=FAILED_MESSAGE)
        raise
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export.pk)
        export.finish(rows=rows)
        export.save(update_fields=["status", "rows", "finished_at"])
    logger.info("Export %s done: %s rows", export.pk, rows)
    return export


def _export_fail(*, export_id: UUID, error: str) -> None:
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING):
            export.fail(error=error)
            export.save(update_fields=["status", "error", "rows", "finished_at"])


def _write(export: Export, partial: Path) -> int:
    # One transaction on the direct connection: the cursor is not WITH HOLD
    # (no copy of the result kept on the server), and the rows are one snapshot.
    with transaction.atomic(using=READ_DATABASE), partial.open("w", newline="", encoding="utf-8") as stream:
        header, rows = _rows(export)
        written = _write_csv(stream, header, rows, for_people=export.spreadsheet_safe)
        stream.flush()
        os.fsync(stream.fileno())
    return written


def _rows(export: Export) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
    if export.kind == ExportKind.BOOK_CODES:
        book = Book.objects.using(READ_DATABASE).get(pk=export.book_id)
        return columns.book_code_rows(book=book, state=export.coupon_state or None, database=READ_DATABASE)
    return columns.selection_rows(kind=export.kind, queryset=_selection_load(export.kind, export.selection))


def _write_csv(stream, header: Sequence[str], rows: Iterable[Sequence[object]], *, for_people: bool) -> int:
    writer = csv.writer(stream)
    writer.writerow(header)
    written = 0
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row] if for_people else row)
        written += 1
    return written


def _selection_dump(queryset: QuerySet) -> str:
    encoded = base64.b64encode(pickle.dumps(queryset.query)).decode("ascii")
    return signing.dumps(encoded, salt=SELECTION_SALT, compress=True)


def _selection_load(kind: str, selection: str) -> QuerySet:
    # Signed with SECRET_KEY when the export was recorded: only this service's
    # own pickles are ever loaded.
    encoded = signing.loads(selection, salt=SELECTION_SALT)
    model = columns.SELECTIONS[kind][0]
    queryset = model.objects.using(READ_DATABASE).all()
    queryset.query = pickle.loads(base64.b64decode(encoded))  # noqa: S301
    return queryset


def exports_delete_expired(*, now=None) -> int:
    """Delete the files of exports finished more than EXPORT_TTL_HOURS ago;
    the record stays (who exported what, when). How many files went."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.EXPORT_TTL_HOURS)
    expired = Export.objects.filter(finished_at__lt=cutoff, file_deleted_at__isnull=True)
    deleted = 0
    for export in expired.iterator():
        export_path(export).unlink(missing_ok=True)
        Export.objects.filter(pk=export.pk).update(file_deleted_at=timezone.now())
        deleted += 1
    return deleted
