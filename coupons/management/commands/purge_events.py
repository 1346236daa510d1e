from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from coupons.retention import EVENT_PURGE_BATCH, events_purge


class Command(BaseCommand):
    help = (
        "Delete the events older than EVENT_RETENTION_DAYS that no reader still needs (the webhook outbox), "
        "in batches. Safe while traffic runs; the task queue's workers run it daily."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=EVENT_PURGE_BATCH,
            help=f"Events per transaction (default {EVENT_PURGE_BATCH}).",
        )

    def handle(self, *args, batch_size: int, **options) -> None:
        if settings.EVENT_RETENTION_DAYS is None:
            self.stdout.write("EVENT_RETENTION_DAYS is 0: events are kept forever, none deleted.")
            return
        result = events_purge(now=timezone.now(), batch=batch_size)
        if options["verbosity"] > 0:
            self.stdout.write(
                f"Deleted {result.deleted:,} events older than {settings.EVENT_RETENTION_DAYS} days; "
                f"kept {result.kept:,} still needed."
            )
