from datetime import datetime, timedelta

import pytest

from books.models import Book
from books.services import book_update
from books.tests.factories import BookFactory
from couponsite.errors import InvalidInput

pytestmark = pytest.mark.django_db

START = datetime.fromisoformat("2030-01-10T00:00:00+00:00")


def test_a_change_is_checked_against_the_stored_book_not_a_stale_copy():
    # Given two copies of one book, as two requests read it at once
    book = BookFactory(valid_from=None, valid_until=None)
    stale = Book.objects.get(pk=book.pk)
    book_update(book=book, valid_from=START)

    # When the stale copy moves the other end before the new start
    with pytest.raises(InvalidInput) as raised:
        book_update(book=stale, valid_until=START - timedelta(days=5))

    # Then the window the two would make is refused as input, and nothing changed
    assert raised.value.errors[0]["field"] == "valid_until"
    book.refresh_from_db()
    assert (book.valid_from, book.valid_until) == (START, None)


def test_an_update_returns_the_stored_book_with_the_change():
    book = BookFactory(name="Old", description="kept")
    stale = Book.objects.get(pk=book.pk)
    book_update(book=book, description="changed")

    updated = book_update(book=stale, name="New")

    assert (updated.name, updated.description) == ("New", "changed")
