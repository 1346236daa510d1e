"""What the bulk commands share: the book option, progress bars, errors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from tqdm import tqdm

from books.models import Book
from couponsite.errors import ServiceError


def add_book_option(parser: CommandParser) -> None:
    parser.add_argument("--book", type=int, required=True, metavar="ID", help="The book's id.")


def add_progress_option(parser: CommandParser) -> None:
    parser.add_argument(
        "--no-progress", action="store_true", help="No progress bar (there is none anyway when not on a terminal)."
    )


def book_or_error(book_id: int) -> Book:
    book = Book.objects.select_related("partner").filter(pk=book_id).first()
    if book is None:
        raise CommandError(f"No book with id {book_id}.")
    return book


@contextlib.contextmanager
def progress_bar(
    command: BaseCommand, *, total: int | None, unit: str, enabled: bool
) -> Iterator[Callable[[int], None] | None]:
    """``update(n)`` of a bar on standard error, or None when the bar is off
    or standard error is not a terminal (cron, pipes, logs)."""
    if not enabled or not command.stderr.isatty():
        yield None
        return
    # The raw stream: Django's wrapper would end every redraw with a newline.
    with tqdm(total=total, unit=unit, file=command.stderr._out, dynamic_ncols=True) as bar:
        yield bar.update


def service_error(error: ServiceError) -> CommandError:
    """The one line an operator reads on standard error."""
    return CommandError(error.detail)


def database_error(error: DatabaseError, *, outcome: str) -> CommandError:
    """One line for a database that did not answer (down, a dropped
    connection, ``BULK_STATEMENT_TIMEOUT_SECONDS`` or ``BULK_LOCK_TIMEOUT_SECONDS``
    run out): what it said, and what became of the work."""
    return CommandError(f"The database did not answer: {str(error).strip()}. {outcome}")
