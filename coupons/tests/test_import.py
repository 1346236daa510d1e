import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from books.tests.factories import BookFactory
from coupons import imports, sort_keys
from coupons.csv_input import MAX_LINE_BYTES
from coupons.imports import codes_import, codes_import_csv
from coupons.models import Coupon
from coupons.services import coupon_assign_random
from coupons.tests.factories import OPERATOR, CouponFactory
from couponsite.actors import Actor
from couponsite.errors import InvalidInput


def book_codes(book) -> set[str]:
    return set(Coupon.objects.filter(book=book).values_list("code", flat=True))


def import_csv(book, text: str | bytes, **kwargs) -> int:
    data = text.encode() if isinstance(text, str) else text
    return codes_import_csv(actor=OPERATOR, book=book, stream=io.BytesIO(data), **kwargs)


def rejected(call) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        call()
    return refused.value


@pytest.mark.django_db
def test_a_list_of_codes_is_stored_trimmed_as_available_coupons():
    book = BookFactory()

    created = codes_import(actor=OPERATOR, book=book, codes=["  SUMMER-1", "summer_2\t", "X"])

    assert created == 3
    assert book_codes(book) == {"SUMMER-1", "summer_2", "X"}
    assert set(Coupon.objects.filter(book=book).values_list("state", "partner_id")) == {("available", book.partner_id)}


@pytest.mark.django_db
def test_a_csv_may_have_a_header_blank_lines_extra_columns_quotes_crlf_and_a_bom():
    book = BookFactory()
    data = '\ufeffCode,note\r\nA-1,first\r\n\r\n  ,\r\n"B_2",second\r\nc3\r\n'

    assert import_csv(book, data) == 3
    assert book_codes(book) == {"A-1", "B_2", "c3"}


@pytest.mark.django_db
def test_a_csv_without_header_imports_its_first_row():
    book = BookFactory()

    assert import_csv(book, "FIRST\nSECOND") == 2
    assert book_codes(book) == {"FIRST", "SECOND"}


@pytest.mark.django_db
def test_an_uploaded_file_is_read_as_a_stream():
    book = BookFactory()
    upload = SimpleUploadedFile("codes.csv", b"code\nUP-1\nUP-2\n", content_type="text/csv")

    assert codes_import_csv(actor=OPERATOR, book=book, stream=upload) == 2
    assert book_codes(book) == {"UP-1", "UP-2"}


@pytest.mark.django_db
def test_an_import_that_fails_on_its_last_row_stores_nothing():
    book = BookFactory()
    rows = [f"CODE-{n:04d}" for n in range(1, 500)] + ["not valid!"]

    error = rejected(lambda: import_csv(book, "\n".join(rows)))

    assert error.errors == [
        {"line": 500, "value": "not valid!", "reason": "only A-Z, a-z, 0-9, '-' and '_' are allowed"}
    ]
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_every_kind_of_bad_row_is_reported_with_its_line_and_reason():
    book = BookFactory()
    CouponFactory(book=BookFactory(partner=book.partner), code="Existing-1")
    data = "code\nGOOD-1\nexisting-1\nhas space\n" + "x" * 65 + '\n"",other\nDup-9\nGOOD-2\nDUP-9\n'

    error = rejected(lambda: import_csv(book, data))

    existing_book = Coupon.objects.get(code="Existing-1").book_id
    assert error.errors == [
        {"line": 3, "value": "existing-1", "reason": f"already exists (book {existing_book})"},
        {"line": 4, "value": "has space", "reason": "only A-Z, a-z, 0-9, '-' and '_' are allowed"},
        {"line": 5, "value": "x" * 65, "reason": "longer than 64 characters"},
        {"line": 6, "value": "", "reason": "empty"},
        {"line": 9, "value": "DUP-9", "reason": "duplicate of line 7"},
    ]
    assert error.detail.startswith("5 rows")
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_duplicates_within_a_list_are_found_whatever_their_case():
    book = BookFactory()

    error = rejected(lambda: codes_import(actor=OPERATOR, book=book, codes=["abc", "OTHER", "ABC", "aBc"]))

    assert error.errors == [
        {"line": 3, "value": "ABC", "reason": "duplicate of line 1"},
        {"line": 4, "value": "aBc", "reason": "duplicate of line 1"},
    ]
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_a_code_of_the_same_partner_in_another_book_is_a_duplicate_in_any_case():
    book = BookFactory()
    CouponFactory(book=BookFactory(partner=book.partner), code="SHARED")

    error = rejected(lambda: codes_import(actor=OPERATOR, book=book, codes=["NEW", "shared"]))

    assert [row["line"] for row in error.errors] == [2]
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_another_partners_identical_code_is_no_duplicate():
    CouponFactory(code="SHARED")
    book = BookFactory()

    assert codes_import(actor=OPERATOR, book=book, codes=["SHARED"]) == 1


@pytest.mark.django_db
def test_only_the_first_hundred_bad_rows_are_listed_but_all_are_counted():
    book = BookFactory()

    error = rejected(lambda: codes_import(actor=OPERATOR, book=book, codes=["bad code"] * 150 + ["fine"]))

    assert len(error.errors) == 100
    assert error.errors[-1]["line"] == 100
    assert error.detail.startswith("150 rows")
    assert "first 100" in error.detail


@pytest.mark.django_db
def test_a_huge_bad_value_is_shortened_in_the_report():
    book = BookFactory()

    error = rejected(lambda: codes_import(actor=OPERATOR, book=book, codes=["y" * 5000]))

    assert error.errors[0]["value"] == "y" * 100 + "…"
    assert error.errors[0]["reason"] == "longer than 64 characters"


@pytest.mark.parametrize(
    "value",
    ["tab\there", "new\nline", "back\\slash", "nul\x00byte", "surrogate\ud800", "ümlaut", "TRAILING\n\nX"],
)
@pytest.mark.django_db
def test_values_with_characters_copy_treats_specially_are_reported_not_crashed_on(value):
    book = BookFactory()

    error = rejected(lambda: codes_import(actor=OPERATOR, book=book, codes=["fine", value]))

    assert error.errors[0]["line"] == 2
    assert error.errors[0]["reason"] == "only A-Z, a-z, 0-9, '-' and '_' are allowed"


@pytest.mark.django_db
def test_a_code_with_a_trailing_newline_inside_quotes_is_trimmed_like_any_other():
    book = BookFactory()

    assert import_csv(book, '"OK-1\n"\nOK-2\n') == 2
    assert book_codes(book) == {"OK-1", "OK-2"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"CODE-1\n\xff\xfe\x00\x01binary", "Line 2 holds NUL bytes"),
        (b"CODE-1\nCAF\xc9\n", "Line 2 is not UTF-8 text"),
        (b"CODE-1\n" + b"A" * (MAX_LINE_BYTES + 10), "Line 2 is longer than"),
        (b'CODE-1\n"unterminated\n' + b"xxxxxxxxx\n" * 20_000, "not a readable CSV"),
    ],
)
@pytest.mark.django_db
def test_an_unreadable_file_is_refused_with_a_clear_message(data, message):
    book = BookFactory()

    error = rejected(lambda: import_csv(book, data))

    assert message in error.detail
    assert error.errors == [{"field": "file", "detail": error.detail}]
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.parametrize("data", ["", "code\n", "\n\n , \n"])
@pytest.mark.django_db
def test_a_file_without_codes_is_refused(data):
    error = rejected(lambda: import_csv(BookFactory(), data))

    assert error.detail == "The file holds no codes."


@pytest.mark.django_db
def test_a_list_item_that_is_not_a_string_is_refused():
    book = BookFactory()

    error = rejected(lambda: codes_import(actor=OPERATOR, book=book, codes=["A", 12345]))

    assert error.errors == [{"line": 2, "value": "12345", "reason": "not a string"}]
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_import_progress_counts_the_rows_added_per_batch(monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 40)
    book = BookFactory()
    reported = []

    import_csv(book, "code\n" + "\n".join(f"C{n}" for n in range(100)), progress=reported.append)

    # The header is line 1, so the batches of 40 lines hold 39, 40 and 21 codes.
    assert reported == [39, 40, 21]
    assert Coupon.objects.filter(book=book).count() == 100


@pytest.mark.django_db
def test_imported_codes_get_keys_above_the_keys_handed_out():
    book = BookFactory()
    codes_import(actor=OPERATOR, book=book, codes=[f"OLD-{n}" for n in range(50)])
    for n in range(30):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"user-{n}", actor=Actor.system("test"))
    handed_out = max(Coupon.objects.filter(book=book, state="assigned").values_list("sort_key", flat=True))

    codes_import(actor=OPERATOR, book=book, codes=[f"NEW-{n}" for n in range(50)])

    added = Coupon.objects.filter(book=book, code__startswith="NEW-").values_list("sort_key", flat=True)
    assert min(added) > handed_out


@pytest.mark.django_db
def test_an_import_that_rekeys_the_book_rekeys_the_imported_codes_too(monkeypatch):
    monkeypatch.setattr(sort_keys, "MIN_KEY_ROOM_PER_CODE", 2**62)
    book = BookFactory()
    codes_import(actor=OPERATOR, book=book, codes=[f"OLD-{n}" for n in range(10)])
    coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="user", actor=Actor.system("test"))
    # The key handed out sits in the middle of the range.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE coupons_coupon SET sort_key = CASE WHEN state = 'available' THEN %s + id ELSE %s END"
            " WHERE book_id = %s",
            [2**62, 2**62, book.pk],
        )

    codes_import(actor=OPERATOR, book=book, codes=[f"NEW-{n}" for n in range(200)])

    added = Coupon.objects.filter(book=book, code__startswith="NEW-").values_list("sort_key", flat=True)
    # Staged above the watermark, then drawn again over the whole range: the
    # chance that none of 200 lands in the lower half is 2**-200.
    assert min(added) < 2**62
