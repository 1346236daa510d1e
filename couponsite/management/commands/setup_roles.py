from django.core.management.base import BaseCommand

from couponsite.roles import ROLES, roles_sync


class Command(BaseCommand):
    help = 'Create or reset the staff groups "Coupon managers" and "Support" and their permissions.'

    def handle(self, *args, **options) -> None:
        roles_sync()
        self.stdout.write(f"Groups set up: {', '.join(ROLES)}.")
