"""Every door that adds codes to a book, exports them or changes the book
leaves a book-level event: who, which request, how many (audit L12)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory
from books.tests.test_admin_books import book_form
from coupons.models import CouponEvent
from couponsite.roles import COUPON_MANAGERS

pytestmark = pytest.mark.django_db


def book_event(book, action: str) -> CouponEvent:
    (event,) = CouponEvent.objects.filter(book=book, action=action)
    return event


def test_staff_generation_and_upload_are_recorded_with_the_staff_user_and_request():
    book = BookFactory()
    user = staff_user(role=COUPON_MANAGERS)
    client = client_for(user)

    generated = client.post(reverse("admin:books_book_generate", args=[book.pk]), {"count": "25", "pattern": ""})
    upload = SimpleUploadedFile("codes.csv", b"code\nSTAFF-1\nSTAFF-2\n", content_type="text/csv")
    uploaded = client.post(reverse("admin:books_book_upload", args=[book.pk]), {"file": upload})

    events = list(CouponEvent.objects.filter(book=book).order_by("id"))
    assert [(e.action, e.data, e.actor_kind, e.actor_id) for e in events] == [
        ("codes_added", {"book_id": book.pk, "count": 25, "method": "generate"}, "staff", str(user.pk)),
        ("codes_added", {"book_id": book.pk, "count": 2, "method": "upload"}, "staff", str(user.pk)),
    ]
    assert [e.request_id for e in events] == [generated["X-Request-ID"], uploaded["X-Request-ID"]]
    assert all((e.partner_id, e.coupon_id, e.from_state) == (book.partner_id, None, None) for e in events)


def test_a_staff_change_of_a_book_is_recorded_with_what_changed():
    book = BookFactory(name="Old name")
    user = staff_user(role=COUPON_MANAGERS)

    response = client_for(user).post(
        reverse("admin:books_book_change", args=[book.pk]),
        book_form(book.partner, name="New name", max_codes_per_user="2"),
    )

    assert response.status_code == 302
    event = book_event(book, "book_updated")
    assert event.data == {"book_id": book.pk, "changes": {"max_codes_per_user": 2, "name": "New name"}}
    assert (event.actor_kind, event.actor_id, event.request_id) == ("staff", str(user.pk), response["X-Request-ID"])


def test_an_unchanged_book_form_records_nothing():
    book = BookFactory(name="Same", description="", max_codes_per_user=None, code_pattern="####-####-####")

    client_for(staff_user(role=COUPON_MANAGERS)).post(
        reverse("admin:books_book_change", args=[book.pk]), book_form(book.partner, name="Same")
    )

    assert not CouponEvent.objects.filter(book=book).exists()


def test_the_operators_commands_are_recorded_as_their_jobs(tmp_path):
    book = BookFactory()
    codes = tmp_path / "codes.csv"
    codes.write_text("OPS-1\nOPS-2\nOPS-3\n")

    call_command("generate_codes", book=book.pk, count=10, no_progress=True, stdout=io.StringIO())
    call_command("import_codes", str(codes), book=book.pk, no_progress=True, stdout=io.StringIO())
    call_command("export_codes", book=book.pk, state="available", no_progress=True, stdout=io.StringIO())

    events = list(CouponEvent.objects.filter(book=book).order_by("id"))
    assert [(e.action, e.data, e.actor_kind, e.actor_id, e.request_id) for e in events] == [
        ("codes_added", {"book_id": book.pk, "count": 10, "method": "generate"}, "system", "generate_codes", ""),
        ("codes_added", {"book_id": book.pk, "count": 3, "method": "import"}, "system", "import_codes", ""),
        ("codes_exported", {"book_id": book.pk, "count": 13, "state": "available"}, "system", "export_codes", ""),
    ]


def test_a_refused_load_records_nothing():
    book = BookFactory()

    with pytest.raises(CommandError):
        call_command("generate_codes", book=book.pk, count=10, pattern="AB-##", no_progress=True, stdout=io.StringIO())

    assert not CouponEvent.objects.filter(book=book).exists()


def test_book_level_events_show_in_the_admin():
    book = BookFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))
    client.post(reverse("admin:books_book_generate", args=[book.pk]), {"count": "5", "pattern": ""})
    event = book_event(book, "codes_added")

    listed = client.get(reverse("admin:coupons_couponevent_changelist"), {"action__exact": "codes_added"})
    shown = client.get(reverse("admin:coupons_couponevent_change", args=[event.pk]))

    assert list(listed.context["cl"].result_list) == [event]
    assert shown.status_code == 200
