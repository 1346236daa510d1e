import pytest

from books.tests.factories import BookFactory
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor


@pytest.fixture
def actor() -> Actor:
    return Actor.api_key("testkey")


@pytest.fixture
def book(db):
    return BookFactory()


@pytest.fixture
def stocked_book(book):
    make_coupons(book, 10)
    return book
