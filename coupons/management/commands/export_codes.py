import csv
import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from coupons.events import event_codes_exported
from coupons.management.options import (
    add_book_option,
    add_progress_option,
    book_or_error,
    database_error,
    progress_bar,
    service_error,
)
from coupons.models import CouponState
from coupons.selectors import EXPORT_COLUMNS, coupon_export_rows, coupon_list_for_book
from couponsite.actors import Actor
from couponsite.db import UNAVAILABLE_ERRORS, bulk_timeouts
from couponsite.errors import ServiceError
from couponsite.spreadsheet import spreadsheet_safe


class Command(BaseCommand):
    help = (
        "Export a book's coupons as CSV (code, state, user_id, assigned_at, redemption_count), streamed. "
        "The state is the effective one: an expired lock reads as assigned. Cells a spreadsheet would run "
        "as a formula (starting with = + - @, tab or CR) get a leading single quote."
    )

    def add_arguments(self, parser) -> None:
        add_book_option(parser)
        parser.add_argument("--state", choices=CouponState.values, help="Only coupons in this (effective) state.")
        parser.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output.")
        add_progress_option(parser)

    def handle(self, *args, book: int, state: str | None, output: str | None, no_progress: bool, **options) -> None:
        target = book_or_error(book)
        started = time.monotonic()
        try:
            stream = open(output, "w", newline="", encoding="utf-8") if output else self.stdout  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from error
        try:
            with bulk_timeouts():
                total = coupon_list_for_book(book=target, state=state).count()
                with progress_bar(self, total=total, unit="codes", enabled=not no_progress) as progress:
                    exported = self._write(stream, coupon_export_rows(book=target, state=state), progress)
        except ServiceError as error:
            raise service_error(error) from error
        except UNAVAILABLE_ERRORS as error:
            raise database_error(error, outcome="The export is incomplete; run it again.") from error
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as Unix tools do,
            # and keep the interpreter's last flush from failing again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        finally:
            if output:
                stream.close()
        event_codes_exported(book=target, count=exported, state=state, actor=Actor.system("export_codes"))
        if output:
            elapsed = time.monotonic() - started
            self.stdout.write(f"Exported {exported:,} coupons of book {target.pk} to {output} in {elapsed:.1f} s.")

    def _write(self, stream, rows, progress) -> int:
        writer = csv.writer(stream)
        writer.writerow(EXPORT_COLUMNS)
        written = 0
        for code, state, user_id, assigned_at, redemption_count in rows:
            # A file for people: cells a spreadsheet would run as formulas are defused.
            writer.writerow(
                [
                    spreadsheet_safe(code),
                    state,
                    spreadsheet_safe(user_id),
                    assigned_at.isoformat() if assigned_at else "",
                    redemption_count,
                ]
            )
            written += 1
            if progress and written % 10_000 == 0:
                progress(10_000)
        if progress:
            progress(written % 10_000)
        return written
