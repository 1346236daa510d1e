from django.core.management.base import BaseCommand

from coupons.management.options import service_error
from coupons.services import assignments_release_expired
from couponsite.actors import Actor
from couponsite.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Write back every assignment past its book's assignment_ttl_seconds (state available, one "
        "assignment_expired event each). Idempotent, and safe to run every minute while traffic runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="Coupons read per query (default 1000).")

    def handle(self, *args, batch_size: int, **options) -> None:
        try:
            released = assignments_release_expired(
                actor=Actor.system("release_expired_assignments"), batch_size=batch_size
            )
        except ServiceError as error:
            raise service_error(error) from error
        if options["verbosity"] > 0:
            self.stdout.write(f"Released {released:,} expired assignments.")
