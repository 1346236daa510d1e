import pytest
from django.db import IntegrityError, transaction

from books.models import Partner
from books.services import partner_create
from couponsite.errors import InvalidInput
from couponsite.tests.racing import race


@pytest.mark.django_db
def test_the_database_refuses_a_partner_name_taken_in_another_case():
    Partner.objects.create(name="Acme")

    with pytest.raises(IntegrityError), transaction.atomic():
        Partner.objects.create(name="ACME")


@pytest.mark.django_db
def test_a_name_taken_in_another_case_is_a_field_error():
    partner_create(name="Acme")

    with pytest.raises(InvalidInput) as raised:
        partner_create(name="  acme ")
    assert raised.value.errors == [{"field": "name", "detail": "A partner with this name exists already."}]


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_racing_creations_of_one_name_make_one_partner_and_clean_refusals():
    results = race(lambda i: partner_create(name="Acme" if i % 2 else "acme"), times=12)

    assert sum(isinstance(r, Partner) for r in results) == 1
    assert all(isinstance(r, (Partner, InvalidInput)) for r in results)
    assert Partner.objects.filter(name__iexact="acme").count() == 1
