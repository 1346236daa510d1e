"""The book page's code actions: Generate codes and Upload CSV."""

import io

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory
from coupons.models import Coupon
from couponsite.roles import COUPON_MANAGERS, SUPPORT

pytestmark = pytest.mark.django_db


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


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


def upload_as_manager(book, content: bytes):
    upload = io.BytesIO(content)
    upload.name = "codes.csv"
    client = client_for(staff_user(role=COUPON_MANAGERS))
    return client.post(reverse("admin:books_book_upload", args=[book.pk]), {"file": upload})


def test_an_upload_of_more_rows_than_a_request_may_add_stores_nothing():
    # Audit L1: 150,000 rows were accepted here while the API capped at 100,000.
    book = BookFactory()

    response = upload_as_manager(book, b"".join(b"L1-%d\n" % i for i in range(100_001)))

    assert response.status_code == 400
    assert "At most 100,000 codes a request" in " ".join(message_texts(response))
    assert not Coupon.objects.filter(book=book).exists()


def test_an_upload_larger_than_the_size_cap_is_refused_before_it_is_read():
    # Audit L1: a 42 MB file ran past the worker timeout and answered 500.
    book = BookFactory()
    line = b"X" * 63 + b"\n"

    response = upload_as_manager(book, line * (10 * 2**20 // len(line) + 1))

    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["The file is larger than 10 MB; split it."]
    assert not Coupon.objects.filter(book=book).exists()
