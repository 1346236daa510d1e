from django.core.management.base import BaseCommand

from api.counters import counters_purge_expired


class Command(BaseCommand):
    help = (
        "Delete the database's rate counters of ended windows "
        "(the task queue's workers run it hourly; Redis expires its own)."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Purged {counters_purge_expired()} expired rate counters.")
