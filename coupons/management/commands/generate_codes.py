import time

from django.core.management.base import BaseCommand, CommandError

from coupons.generation import codes_generate
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
        "Generate random codes into a book, in batches, all or nothing: a failure or Ctrl-C stores none. "
        "'#' in the pattern is one random character; other characters are literal."
    )

    def add_arguments(self, parser) -> None:
        add_book_option(parser)
        parser.add_argument("--count", type=int, required=True, metavar="N", help="How many codes to create.")
        parser.add_argument("--pattern", help="Code pattern, e.g. SPRING-####-####; default: the book's pattern.")
        parser.add_argument(
            "--charset",
            help="What '#' draws from (numeric, alphabetic, ... or characters of its own); default: the book's.",
        )
        add_progress_option(parser)

    def handle(
        self, *args, book: int, count: int, pattern: str | None, charset: str | None, no_progress: bool, **options
    ) -> None:
        target = book_or_error(book)
        started = time.monotonic()
        try:
            with progress_bar(self, total=count, unit="codes", enabled=not no_progress) as progress:
                created = codes_generate(
                    book=target,
                    count=count,
                    pattern=pattern,
                    charset=charset,
                    progress=progress,
                    actor=Actor.system("generate_codes"),
                )
        except ServiceError as error:
            raise service_error(error) from error
        except UNAVAILABLE_ERRORS as error:
            raise database_error(error, outcome="No code was stored; run it again.") from error
        except KeyboardInterrupt:
            raise CommandError("Interrupted: no code was stored.", returncode=130) from None
        elapsed = time.monotonic() - started
        self.stdout.write(f"Created {created:,} codes in book {target.pk} ({target.name}) in {elapsed:.1f} s.")
