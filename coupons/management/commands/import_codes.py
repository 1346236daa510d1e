import contextlib
import sys
import time
from typing import IO

from django.core.management.base import BaseCommand, CommandError

from coupons.events import CodesAddedMethod
from coupons.imports import codes_import_csv
from coupons.management.options import (
    add_book_option,
    add_progress_option,
    book_or_error,
    database_error,
    progress_bar,
    service_error,
)
from couponsite.actors import Actor
from couponsite.db import UNAVAILABLE_ERRORS
from couponsite.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Import codes into a book from a CSV file (one code a row in the first column, optional header "
        "'code'; a plain list of codes, one a line, is such a file). All or nothing: any bad row rejects "
        "the file, and the bad rows are listed on standard error."
    )

    def add_arguments(self, parser) -> None:
        add_book_option(parser)
        parser.add_argument("file", metavar="FILE", help="The CSV file; '-' reads standard input.")
        add_progress_option(parser)

    def handle(self, *args, book: int, file: str, no_progress: bool, **options) -> None:
        target = book_or_error(book)
        started = time.monotonic()
        try:
            with (
                self._open(file) as stream,
                progress_bar(self, total=None, unit="codes", enabled=not no_progress) as progress,
            ):
                created = codes_import_csv(
                    book=target,
                    stream=stream,
                    progress=progress,
                    actor=Actor.system("import_codes"),
                    method=CodesAddedMethod.IMPORT,
                )
        except ServiceError as error:
            for row in error.errors:
                if "line" in row:
                    self.stderr.write(f"line {row['line']}: {row['value']!r}: {row['reason']}")
            raise service_error(error) from error
        except UNAVAILABLE_ERRORS as error:
            raise database_error(error, outcome="No code was stored; run it again.") from error
        except KeyboardInterrupt:
            raise CommandError("Interrupted: no code was stored.", returncode=130) from None
        elapsed = time.monotonic() - started
        self.stdout.write(f"Imported {created:,} codes into book {target.pk} ({target.name}) in {elapsed:.1f} s.")

    def _open(self, file: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        if file == "-":
            # Standard input is not ours to close.
            return contextlib.nullcontext(sys.stdin.buffer)
        try:
            return open(file, "rb")
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from error
