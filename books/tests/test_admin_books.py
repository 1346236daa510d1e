import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from books.models import Book
from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory, PartnerFactory
from couponsite.roles import COUPON_MANAGERS

pytestmark = pytest.mark.django_db


def book_form(partner, **overrides):
    data = {
        "partner": partner.pk,
        "name": "Spring sale",
        "description": "",
        "is_active": "on",
        "max_codes_per_user": "",
        "max_redemptions_per_coupon": "1",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "code_pattern": "####-####-####",
        "charset": "unambiguous",
    }
    data.update(overrides)
    return data


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_manager_creates_a_book_through_the_service():
    partner = PartnerFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))

    response = client.post(reverse("admin:books_book_add"), book_form(partner))

    assert response.status_code == 302
    book = Book.objects.get()
    assert (book.partner, book.name, book.max_redemptions_per_coupon) == (partner, "Spring sale", 1)


def test_book_form_shows_the_service_error_on_the_pattern_field_and_stores_nothing():
    partner = PartnerFactory()
    client = client_for(staff_user())

    response = client.post(reverse("admin:books_book_add"), book_form(partner, code_pattern="NO-RANDOM"))

    assert response.status_code == 200
    assert "code_pattern" in response.context["adminform"].form.errors
    assert "A pattern needs at least one '#'" in response.context["adminform"].form.errors["code_pattern"][0]
    assert not Book.objects.exists()


def test_book_form_shows_a_charset_that_is_not_one_on_its_field():
    client = client_for(staff_user())

    response = client.post(reverse("admin:books_book_add"), book_form(PartnerFactory(), charset="ABCDEFGHIa"))

    assert response.status_code == 200
    assert "differ in any case" in response.context["adminform"].form.errors["charset"][0]
    assert not Book.objects.exists()


def test_a_numeric_book_is_made_in_the_admin():
    client = client_for(staff_user(role=COUPON_MANAGERS))

    client.post(
        reverse("admin:books_book_add"), book_form(PartnerFactory(), code_pattern="########", charset="numeric")
    )

    assert Book.objects.get().charset == "numeric"


def test_book_form_refuses_a_window_that_ends_before_it_starts():
    partner = PartnerFactory()
    client = client_for(staff_user())
    data = book_form(
        partner,
        valid_from_0="2030-01-02",
        valid_from_1="00:00:00",
        valid_until_0="2030-01-01",
        valid_until_1="00:00:00",
    )

    response = client.post(reverse("admin:books_book_add"), data)

    assert response.status_code == 200
    assert "Must be later than valid_from." in str(response.context["adminform"].form.errors["valid_until"])
    assert not Book.objects.exists()


def test_editing_a_book_updates_it_and_keeps_its_partner():
    book = BookFactory(name="Old name")
    other_partner = PartnerFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))
    data = book_form(other_partner, name="New name", max_codes_per_user="2")

    response = client.post(reverse("admin:books_book_change", args=[book.pk]), data)

    assert response.status_code == 302
    book.refresh_from_db()
    assert (book.name, book.max_codes_per_user, book.partner_id) == ("New name", 2, book.partner_id)
    assert book.partner != other_partner
