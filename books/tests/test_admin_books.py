import io

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from books.models import Book
from books.roles import COUPON_MANAGERS, SUPPORT
from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory, PartnerFactory
from coupons.models import Coupon
from coupons.services import coupon_assign_code, coupon_redeem
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor

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


def test_book_page_shows_state_counts_as_a_picture_and_a_table():
    book = BookFactory()
    make_coupons(book, 3)
    coupon_assign_code(partner=book.partner, code=f"C{book.pk}-0000000", user_id="u1", actor=Actor.system("test"))
    client = client_for(staff_user(role=SUPPORT))

    response = client.get(reverse("admin:books_book_change", args=[book.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<svg class="book-chart state-bar" role="img"' in page
    assert "3 coupons: available 2, assigned 1, locked 0, redeemed 0, void 0.</desc>" in page
    rows = {row["state"]: row["count"] for row in response.context["state_rows"]}
    assert rows == {"available": 2, "assigned": 1, "locked": 0, "redeemed": 0, "void": 0}
    assert '<svg class="book-chart redemptions-chart"' in page
    assert '<script src="http' not in page


def test_book_page_counts_todays_redemption_in_the_daily_chart():
    book = BookFactory()
    make_coupons(book, 1)
    code = f"C{book.pk}-0000000"
    actor = Actor.system("test")
    coupon_assign_code(partner=book.partner, code=code, user_id="u1", actor=actor)
    coupon_redeem(partner=book.partner, code=code, user_id="u1", actor=actor)
    client = client_for(staff_user())

    response = client.get(reverse("admin:books_book_change", args=[book.pk]))

    rows = response.context["redemptions_rows"]
    assert len(rows) == 30
    assert rows[-1][1] == "1"
    assert "1 redemption from" in response.content.decode()


def test_support_sees_the_book_page_without_code_buttons():
    book = BookFactory()
    response = client_for(staff_user(role=SUPPORT)).get(reverse("admin:books_book_change", args=[book.pk]))

    assert response.status_code == 200
    assert reverse("admin:books_book_generate", args=[book.pk]) not in response.content.decode()
    assert reverse("admin:books_book_upload", args=[book.pk]) not in response.content.decode()


def test_manager_sees_the_code_buttons():
    book = BookFactory()
    response = client_for(staff_user(role=COUPON_MANAGERS)).get(reverse("admin:books_book_change", args=[book.pk]))

    assert reverse("admin:books_book_generate", args=[book.pk]) in response.content.decode()
    assert reverse("admin:books_book_upload", args=[book.pk]) in response.content.decode()


def test_generate_codes_adds_codes_and_says_how_many():
    book = BookFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))

    response = client.post(reverse("admin:books_book_generate", args=[book.pk]), {"count": "25", "pattern": ""})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:books_book_change", args=[book.pk])
    assert Coupon.objects.filter(book=book, state="available").count() == 25
    assert message_texts(response) == [f"Generated 25 codes for {book}."]


def test_generate_codes_with_a_crowded_pattern_shows_the_service_error():
    book = BookFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))

    response = client.post(reverse("admin:books_book_generate", args=[book.pk]), {"count": "10", "pattern": "AB-##"})

    assert response.status_code == 400
    assert "pattern" in response.context["form"].errors
    assert message_texts(response)[0].startswith("No codes generated: Pattern 'AB-##'")
    assert not Coupon.objects.filter(book=book).exists()


def test_generate_codes_form_refuses_a_count_over_the_limit():
    book = BookFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))

    response = client.post(reverse("admin:books_book_generate", args=[book.pk]), {"count": "100001"})

    assert response.status_code == 400
    assert "count" in response.context["form"].errors
    assert not Coupon.objects.filter(book=book).exists()


def test_upload_csv_stores_every_code():
    book = BookFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))
    upload = io.BytesIO(b"code\nSPRING-1\nspring-2\n")
    upload.name = "codes.csv"

    response = client.post(reverse("admin:books_book_upload", args=[book.pk]), {"file": upload})

    assert response.status_code == 302
    assert sorted(Coupon.objects.filter(book=book).values_list("code", flat=True)) == ["SPRING-1", "spring-2"]
    assert message_texts(response) == [f"Uploaded 2 codes to {book}."]


def test_upload_csv_with_bad_rows_lists_them_and_stores_nothing():
    book = BookFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))
    upload = io.BytesIO(b"code\nGOOD-1\nbad code!\nGOOD-1\n")
    upload.name = "codes.csv"

    response = client.post(reverse("admin:books_book_upload", args=[book.pk]), {"file": upload})

    assert response.status_code == 400
    texts = message_texts(response)
    assert texts[0].startswith("Nothing stored: the file was rejected.")
    assert any(text.startswith("Line 3: 'bad code!': ") for text in texts[1:])
    assert "Line 4: 'GOOD-1': duplicate of line 2" in texts[1:]
    assert not Coupon.objects.filter(book=book).exists()
    assert "Line 3: &#x27;bad code!&#x27;" in response.content.decode()


@pytest.mark.parametrize("view", ["admin:books_book_generate", "admin:books_book_upload"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_support_cannot_open_or_submit_the_code_forms(view, method):
    book = BookFactory()
    client = client_for(staff_user(role=SUPPORT))
    upload = io.BytesIO(b"SPRING-1\n")
    upload.name = "codes.csv"

    response = getattr(client, method)(reverse(view, args=[book.pk]), {"count": "5", "file": upload})

    assert response.status_code == 403
    assert not Coupon.objects.filter(book=book).exists()


def test_code_forms_of_an_unknown_book_are_not_found():
    response = client_for(staff_user()).get(reverse("admin:books_book_generate", args=[987654]))

    assert response.status_code == 404
