import re
from collections import Counter

import pytest

from books.codes import ALPHABET
from books.tests.factories import BookFactory
from coupons import generation
from coupons.generation import codes_generate
from coupons.models import Coupon
from coupons.sort_keys import SORT_KEY_MAX
from coupons.tests.factories import OPERATOR, CouponFactory, make_coupons
from couponsite.errors import InvalidInput


def book_codes(book) -> list[str]:
    return list(Coupon.objects.filter(book=book).values_list("code", flat=True))


@pytest.mark.django_db
def test_generates_exactly_the_count_of_unique_codes_of_the_books_default_pattern():
    book = BookFactory()

    created = codes_generate(actor=OPERATOR, book=book, count=2_500)

    generated = book_codes(book)
    assert created == 2_500
    assert len(generated) == 2_500
    assert len({code.upper() for code in generated}) == 2_500
    shape = re.compile(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")
    assert all(shape.fullmatch(code) for code in generated)


@pytest.mark.django_db
def test_a_given_pattern_keeps_its_literal_characters():
    book = BookFactory(code_pattern="NEVER-USED-#####")

    codes_generate(actor=OPERATOR, book=book, count=50, pattern="Spring_26-#####x")

    shape = re.compile(rf"Spring_26-[{ALPHABET}]{{5}}x")
    assert all(shape.fullmatch(code) for code in book_codes(book))


@pytest.mark.django_db
def test_generated_codes_use_every_character_of_the_alphabet_and_no_other():
    book = BookFactory()

    codes_generate(actor=OPERATOR, book=book, count=1_000, pattern="########")

    seen = Counter("".join(book_codes(book)))
    assert set(seen) == set(ALPHABET)


@pytest.mark.django_db
def test_a_numeric_book_generates_digits_only_and_its_keyspace_is_ten_per_character():
    # "#####": 10**5 codes, sparse enough for 10.
    book = BookFactory(code_pattern="#####", charset="numeric")

    assert codes_generate(actor=OPERATOR, book=book, count=10) == 10
    with pytest.raises(InvalidInput) as refused:
        codes_generate(actor=OPERATOR, book=book, count=1)

    assert all(code.isdigit() and len(code) == 5 for code in book_codes(book))
    assert "100,000 possible codes (from 10 characters)" in refused.value.detail


@pytest.mark.django_db
def test_a_generation_can_use_an_alphabet_of_its_own():
    book = BookFactory()

    codes_generate(actor=OPERATOR, book=book, count=200, pattern="P-########", charset="aBcDeFgHiJ")

    assert set("".join(code[2:] for code in book_codes(book))) == set("aBcDeFgHiJ")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "charset",
    ["ABCDEFGHI", "A" * 65, "ABCDEFGHIa", "ABCDEFGHI!", "ABCDEFGHI "],
    ids=["too short", "too long", "same letter in two cases", "not a code character", "blank"],
)
def test_a_charset_that_cannot_be_an_alphabet_is_refused_and_nothing_is_stored(charset):
    book = BookFactory()

    with pytest.raises(InvalidInput) as refused:
        codes_generate(actor=OPERATOR, book=book, count=5, charset=charset)

    assert refused.value.errors[0]["field"] == "charset"
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_generated_coupons_are_available_with_sort_keys_in_range():
    book = BookFactory()

    codes_generate(actor=OPERATOR, book=book, count=300)

    coupons = Coupon.objects.filter(book=book)
    assert {coupon.state for coupon in coupons} == {"available"}
    assert all(0 <= coupon.sort_key <= SORT_KEY_MAX for coupon in coupons)
    assert all(coupon.partner_id == book.partner_id for coupon in coupons)


@pytest.mark.django_db
def test_a_pattern_too_small_for_the_count_is_refused_and_nothing_is_stored():
    book = BookFactory()

    with pytest.raises(InvalidInput) as refused:
        codes_generate(actor=OPERATOR, book=book, count=10, pattern="###")

    assert "29,791 possible codes" in refused.value.detail
    assert refused.value.errors[0]["field"] == "pattern"
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_the_keyspace_check_counts_the_codes_of_that_shape_in_every_book_of_the_partner():
    # "K####" has 31**4 = 923,521 codes: sparse enough for 92 at most, across
    # the partner's books, since a look-up searches them all (audit M2).
    first = BookFactory(code_pattern="K####")
    second = BookFactory(partner=first.partner, code_pattern="K####")
    assert codes_generate(actor=OPERATOR, book=first, count=60) == 60

    with pytest.raises(InvalidInput) as refused:
        codes_generate(actor=OPERATOR, book=second, count=33)

    assert "93 codes of that shape the partner would hold across its books" in refused.value.detail
    assert codes_generate(actor=OPERATOR, book=second, count=32) == 32
    assert Coupon.objects.filter(partner=first.partner).count() == 92


@pytest.mark.django_db
def test_codes_of_another_shape_or_another_partner_do_not_count_against_a_pattern():
    book = BookFactory(code_pattern="k####")
    make_coupons(book, 500, prefix="GIFT")  # uploaded codes of another shape
    make_coupons(BookFactory(code_pattern="K####"), 92, prefix="K")  # another partner's
    codes_generate(actor=OPERATOR, book=BookFactory(code_pattern="K####"), count=92)  # and another's, of the shape

    assert codes_generate(actor=OPERATOR, book=book, count=92) == 92
    with pytest.raises(InvalidInput):
        codes_generate(actor=OPERATOR, book=book, count=1)


@pytest.mark.parametrize("count", [0, -5, True, 2.5, "10"])
@pytest.mark.django_db
def test_a_count_that_is_not_a_positive_integer_is_refused(count):
    with pytest.raises(InvalidInput) as refused:
        codes_generate(actor=OPERATOR, book=BookFactory(), count=count)

    assert refused.value.errors[0]["field"] == "count"


@pytest.mark.parametrize("pattern", ["", "ABC-DEF", "#### ####", "####/##", "#" * 65])
@pytest.mark.django_db
def test_a_malformed_pattern_is_refused(pattern):
    with pytest.raises(InvalidInput) as refused:
        codes_generate(actor=OPERATOR, book=BookFactory(), count=1, pattern=pattern)

    assert refused.value.errors[0]["field"] == "pattern"


@pytest.mark.django_db
def test_progress_is_reported_after_each_batch(monkeypatch):
    monkeypatch.setattr(generation, "BATCH_SIZE", 400)
    book = BookFactory()
    reported = []

    codes_generate(actor=OPERATOR, book=book, count=1_000, progress=reported.append)

    assert reported == [400, 400, 200]
    assert Coupon.objects.filter(book=book).count() == 1_000


def rows_starting_with(codes_first: list[str]):
    """A stand-in for random_code_rows whose first rows are the given codes."""
    real = generation.random_code_rows
    calls = []

    def rows(pattern, sort_keys, alphabet):
        calls.append(len(sort_keys))
        generated = real(pattern, sort_keys, alphabet)
        if len(calls) > 1:
            return generated
        fixed = b"".join(f"{code}\t{key}\n".encode() for code, key in zip(codes_first, sort_keys, strict=False))
        return fixed + b"".join(generated.splitlines(keepends=True)[len(codes_first) :])

    return rows, calls


@pytest.mark.django_db
def test_codes_colliding_with_the_partners_codes_or_each_other_are_topped_up_to_the_exact_count(monkeypatch):
    book = BookFactory(code_pattern="######")
    other_book = BookFactory(partner=book.partner)
    CouponFactory(book=other_book, code="TAKEN1")
    rows, calls = rows_starting_with(["taken1", "TWICE2", "twice2"])
    monkeypatch.setattr(generation, "random_code_rows", rows)

    assert codes_generate(actor=OPERATOR, book=book, count=20) == 20

    generated = book_codes(book)
    assert len(generated) == 20
    assert "taken1" not in generated
    assert generated.count("TWICE2") == 1
    assert calls == [20, 2]


@pytest.mark.django_db
def test_a_pattern_whose_codes_keep_colliding_is_refused_and_nothing_is_stored(monkeypatch):
    book = BookFactory(code_pattern="######")
    CouponFactory(book=BookFactory(partner=book.partner), code="TAKEN1")
    monkeypatch.setattr(
        generation,
        "random_code_rows",
        lambda pattern, keys, alphabet: b"".join(f"TAKEN1\t{key}\n".encode() for key in keys),
    )

    with pytest.raises(InvalidInput) as refused:
        codes_generate(actor=OPERATOR, book=book, count=5)

    assert "too crowded" in refused.value.detail
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_generation_stores_nothing(monkeypatch):
    monkeypatch.setattr(generation, "BATCH_SIZE", 300)
    book = BookFactory()
    make_coupons(book, 5)
    batches = []

    def interrupt_half_way(added: int) -> None:
        batches.append(added)
        if len(batches) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        codes_generate(actor=OPERATOR, book=book, count=1_200, progress=interrupt_half_way)

    assert batches == [300, 300]
    assert Coupon.objects.filter(book=book).count() == 5
