from django.core.management.base import BaseCommand, CommandError

from books.models import Partner
from books.selectors import partner_find
from books.services import api_key_issue


class Command(BaseCommand):
    help = "Issue a new API key to a partner; the key is printed alone on the last line, once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("partner", metavar="PARTNER", help="The partner's name (any case) or id.")
        parser.add_argument("--name", default="default", help="A label for the key, e.g. 'checkout-prod'.")

    def handle(self, *args, partner: str, name: str, **options) -> None:
        holder = _partner(partner)
        api_key, plain_key = api_key_issue(partner=holder, name=name)
        self.stdout.write(f"Issued API key prefix {api_key.prefix} to partner {holder.name} (id {holder.pk}).")
        if not holder.is_active:
            self.stdout.write("The partner is inactive: its keys are refused until it is active again.")
        self.stdout.write("The key is shown once; store it now:")
        self.stdout.write(plain_key)


def _partner(reference: str) -> Partner:
    partner = partner_find(reference=reference)
    if partner is None:
        raise CommandError(f"No partner named or numbered {reference!r}.")
    return partner
