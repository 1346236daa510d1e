import factory

from books.models import Book, Partner, PartnerAPIKey


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Partner {n}")


class BookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Book

    partner = factory.SubFactory(PartnerFactory)
    name = factory.Sequence(lambda n: f"Book {n}")
    max_codes_per_user = None
    max_redemptions_per_coupon = 1


def api_key_for(partner: Partner, name: str = "test") -> tuple[PartnerAPIKey, str]:
    """A new key for ``partner``: the model row and the plain key."""
    return PartnerAPIKey.objects.create_key(partner=partner, name=name)
