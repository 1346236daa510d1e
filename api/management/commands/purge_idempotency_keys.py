from django.core.management.base import BaseCommand

from api.idempotency import idempotency_keys_purge


class Command(BaseCommand):
    help = "Delete idempotency keys older than 24 hours (the task queue's workers run it hourly)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Purged {idempotency_keys_purge()} idempotency keys.")
