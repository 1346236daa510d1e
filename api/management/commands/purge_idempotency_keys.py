from django.core.management.base import BaseCommand

from api.counters import counters_purge_expired
from api.idempotency import idempotency_keys_purge


class Command(BaseCommand):
    help = "Delete idempotency keys older than 24 hours and rate counters of ended windows (run it hourly)."

    def handle(self, *args, **options) -> None:
        keys = idempotency_keys_purge()
        counters = counters_purge_expired()
        self.stdout.write(f"Purged {keys} idempotency keys and {counters} expired rate counters.")
