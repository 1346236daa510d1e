from django.core.management.base import BaseCommand, CommandError

from books.services import api_key_revoke
from couponsite.errors import ServiceError


class Command(BaseCommand):
    help = "Revoke a partner's API key by its prefix (the part before the dot); requests with it get 403."

    def add_arguments(self, parser) -> None:
        parser.add_argument("prefix", metavar="PREFIX", help="The key's prefix, as shown when it was issued.")

    def handle(self, *args, prefix: str, **options) -> None:
        # A whole key pasted by mistake still names its prefix.
        prefix = prefix.strip().partition(".")[0]
        try:
            api_key = api_key_revoke(prefix=prefix)
        except ServiceError as error:
            raise CommandError(error.detail) from error
        self.stdout.write(f"API key {api_key.prefix} of partner {api_key.partner.name} is revoked.")
