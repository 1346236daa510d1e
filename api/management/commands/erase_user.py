from django.core.management.base import BaseCommand, CommandError

from api.erasure import partner_user_erase
from books.selectors import partner_find
from couponsite.actors import Actor
from couponsite.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Erase one of a partner's end users, as POST /api/v1/users/{user_id}/erase does: a random pseudonym "
        "replaces the id in every row that names it. For a request that reached us rather than the partner."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("partner", metavar="PARTNER", help="The partner's name (any case) or id.")
        parser.add_argument("user_id", metavar="USER_ID", help="The partner's id of the end user, exactly.")

    def handle(self, *args, partner: str, user_id: str, **options) -> None:
        holder = partner_find(reference=partner)
        if holder is None:
            raise CommandError(f"No partner named or numbered {partner!r}.")
        try:
            erasure = partner_user_erase(partner=holder, user_id=user_id, actor=Actor.system("erase_user"))
        except ServiceError as error:
            raise CommandError(str(error)) from error
        counts = ", ".join(f"{count} {kind}" for kind, count in erasure.counts().items())
        self.stdout.write(f"Erased the user from partner {holder.name} (id {holder.pk}): {counts} rewritten.")
