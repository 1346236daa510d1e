from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from books.services import api_key_issue, partner_create
from couponsite.errors import ServiceError


class Command(BaseCommand):
    help = "Create a partner with a first API key; the key is printed alone on the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--key-name", default="default", help="A label for the first API key.")

    def handle(self, *args, name: str, key_name: str, **options) -> None:
        try:
            with transaction.atomic():
                partner = partner_create(name=name)
                api_key, plain_key = api_key_issue(partner=partner, name=key_name)
        except ServiceError as error:
            raise CommandError(error.detail) from error
        self.stdout.write(f"Created partner {partner.name} (id {partner.pk}), API key prefix {api_key.prefix}.")
        self.stdout.write("The key is shown once; store it now:")
        self.stdout.write(plain_key)
