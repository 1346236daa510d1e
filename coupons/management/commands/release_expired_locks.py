from django.core.management.base import BaseCommand

from coupons.management.options import service_error
from coupons.services import locks_release_expired
from couponsite.actors import Actor
from couponsite.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Write back every coupon lock past its time (state assigned, one lock_expired event each). "
        "Idempotent and safe while traffic runs; the task queue's workers run it every minute."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="Coupons read per query (default 1000).")

    def handle(self, *args, batch_size: int, **options) -> None:
        try:
            released = locks_release_expired(actor=Actor.system("release_expired_locks"), batch_size=batch_size)
        except ServiceError as error:
            raise service_error(error) from error
        if options["verbosity"] > 0:
            self.stdout.write(f"Released {released:,} expired locks.")
