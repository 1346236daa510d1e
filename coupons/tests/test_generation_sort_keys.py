"""Codes added to a partly drawn book get sort keys above its watermark, so
that they compete fairly with the coupons left (DESIGN.md, "Concurrency")."""

import threading

import pytest
from django.db import connection, transaction
from psycopg import sql

from books.codes import ALPHABET, CHARSETS
from books.tests.factories import BookFactory
from coupons import sort_keys
from coupons.generation import codes_generate, random_chars
from coupons.models import Coupon
from coupons.services import coupon_assign_random
from coupons.tests.factories import OPERATOR
from couponsite.actors import Actor
from couponsite.locks import LockKind, stable_key

ACTOR = Actor.system("test")


def draw(book, times: int) -> None:
    for n in range(times):
        coupon_assign_random(partner=book.partner, book_id=book.pk, user_id=f"user-{n}", actor=ACTOR)


def keys(book, **filters) -> list[int]:
    return list(Coupon.objects.filter(book=book, **filters).values_list("sort_key", flat=True))


def new_keys(book, known_ids) -> list[int]:
    return list(Coupon.objects.filter(book=book).exclude(id__in=known_ids).values_list("sort_key", flat=True))


@pytest.mark.django_db
def test_codes_added_to_a_partly_drawn_book_get_keys_above_every_key_handed_out():
    book = BookFactory()
    codes_generate(actor=OPERATOR, book=book, count=100)
    draw(book, 60)
    handed_out = max(keys(book, state="assigned"))
    old = dict(Coupon.objects.filter(book=book).values_list("id", "sort_key"))

    codes_generate(actor=OPERATOR, book=book, count=100)

    added = new_keys(book, old)
    assert len(added) == 100
    assert min(added) > handed_out
    assert dict(Coupon.objects.filter(id__in=old).values_list("id", "sort_key")) == old


@pytest.mark.django_db
def test_codes_added_to_a_fully_drawn_book_get_keys_above_its_largest_key():
    book = BookFactory()
    codes_generate(actor=OPERATOR, book=book, count=30)
    draw(book, 30)
    largest = max(keys(book))
    old = set(Coupon.objects.filter(book=book).values_list("id", flat=True))

    codes_generate(actor=OPERATOR, book=book, count=30)

    assert min(new_keys(book, old)) > largest


@pytest.mark.django_db
def test_when_little_room_is_left_above_the_watermark_the_available_coupons_are_rekeyed():
    book = BookFactory()
    codes_generate(actor=OPERATOR, book=book, count=20)
    draw(book, 1)
    # As if the book had been drawn almost to the top of the key range.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE coupons_coupon SET sort_key = CASE WHEN state = 'available' THEN %s - 1000 + (id %% 1000)"
            " ELSE %s - 2000 END WHERE book_id = %s",
            [sort_keys.SORT_KEY_MAX, sort_keys.SORT_KEY_MAX, book.pk],
        )
    available_before = dict(Coupon.objects.filter(book=book, state="available").values_list("id", "sort_key"))
    old = set(Coupon.objects.filter(book=book).values_list("id", flat=True))

    codes_generate(actor=OPERATOR, book=book, count=40)

    rekeyed = dict(Coupon.objects.filter(id__in=available_before).values_list("id", "sort_key"))
    added = new_keys(book, old)
    low = sort_keys.SORT_KEY_MAX - sort_keys.MIN_KEY_ROOM
    # All 19 old and 40 new keys are now spread over the whole range: the
    # chance that none lands below the top 2**40 keys is about 2**-1400.
    assert all(rekeyed[coupon_id] != key for coupon_id, key in available_before.items())
    assert min(rekeyed.values()) < low
    assert min(added) < low
    assert all(0 <= key <= sort_keys.SORT_KEY_MAX for key in [*rekeyed.values(), *added])


@pytest.mark.django_db
def test_adding_more_codes_than_the_room_above_the_watermark_holds_rekeys_the_book(monkeypatch):
    monkeypatch.setattr(sort_keys, "MIN_KEY_ROOM_PER_CODE", 2**62)
    book = BookFactory()
    codes_generate(actor=OPERATOR, book=book, count=10)
    draw(book, 5)
    before = dict(Coupon.objects.filter(book=book, state="available").values_list("id", "sort_key"))

    codes_generate(actor=OPERATOR, book=book, count=3)

    after = dict(Coupon.objects.filter(id__in=before).values_list("id", "sort_key"))
    assert all(after[coupon_id] != key for coupon_id, key in before.items())


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_new_keys_overtaken_by_assignments_during_the_load_are_drawn_again():
    book = BookFactory()
    codes_generate(actor=OPERATOR, book=book, count=40)
    old = set(Coupon.objects.filter(book=book).values_list("id", flat=True))

    def assign_old_coupons_meanwhile(added: int) -> None:
        # Another connection hands out 30 old coupons while the load's new
        # coupons are still uncommitted.
        worker = threading.Thread(target=lambda: (draw(book, 30), connection.close()))
        worker.start()
        worker.join()

    codes_generate(actor=OPERATOR, book=book, count=200, progress=assign_old_coupons_meanwhile)

    handed_out = max(keys(book, state="assigned"))
    assert len(keys(book, state="assigned")) == 30
    assert min(new_keys(book, old)) > handed_out


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_a_load_holds_the_books_codes_lock_until_it_commits():
    book = BookFactory()
    held = []

    def probe(added: int) -> None:
        def try_lock() -> None:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [stable_key(LockKind.BOOK_CODES, book.pk)])
                held.append(not cursor.fetchone()[0])
            connection.close()

        worker = threading.Thread(target=try_lock)
        worker.start()
        worker.join()

    codes_generate(actor=OPERATOR, book=book, count=10, progress=probe)

    assert held == [True]


def test_random_sort_keys_stay_in_their_range_even_when_it_is_tiny():
    top = sort_keys.SORT_KEY_MAX

    assert set(sort_keys.random_sort_keys(50, above=top - 1)) == {top}
    assert set(sort_keys.random_sort_keys(500, above=top - 3)) == {top - 2, top - 1, top}
    assert all(0 <= key <= top for key in sort_keys.random_sort_keys(2_000, above=-1))
    with pytest.raises(ValueError):
        sort_keys.random_sort_keys(1, above=top)


def test_random_sort_keys_cover_their_range_evenly():
    above = 2**62 + 12345
    width = sort_keys.SORT_KEY_MAX - above
    drawn = sort_keys.random_sort_keys(40_000, above=above)

    # Eight equal slices of the range: a chi-square over 7 degrees of freedom
    # exceeds 40 by chance about once in four million runs.
    counts = [0] * 8
    for key in drawn:
        counts[(key - above - 1) * 8 // width] += 1
    expected = len(drawn) / 8
    assert sum((count - expected) ** 2 / expected for count in counts) < 40


# Chi-square bounds that a fair draw passes except about once in millions of runs.
@pytest.mark.parametrize(
    ("alphabet", "bound"),
    [(ALPHABET, 80), (CHARSETS["numeric"], 45), (CHARSETS["alphanumeric"], 95), ("Xy_-0123Zq", 45)],
)
def test_random_chars_are_drawn_evenly_from_the_alphabet(alphabet, bound):
    drawn = random_chars(2_000 * len(alphabet), alphabet)

    counts = [drawn.count(char.encode()) for char in alphabet]
    expected = len(drawn) / len(alphabet)
    assert sum(counts) == len(drawn)
    assert sum((count - expected) ** 2 / expected for count in counts) < bound


@pytest.mark.django_db
def test_keys_drawn_by_postgresql_for_a_rekey_span_the_whole_range():
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT {} FROM generate_series(1, 4000)").format(sort_keys.RANDOM_KEY))
        drawn = [row[0] for row in cursor.fetchall()]

    assert all(0 <= key <= sort_keys.SORT_KEY_MAX for key in drawn)
    # Each of the top and bottom halves of the range: 2,000 expected.
    assert 1_700 < sum(key > 2**62 for key in drawn) < 2_300
    assert len(set(drawn)) == len(drawn)
