"""Reads of books, always within one partner."""

from __future__ import annotations

from django.db.models import QuerySet

from books.models import Book, Partner
from couponsite.bounds import ID_MAX
from couponsite.errors import NotFound


def book_list(*, partner: Partner) -> QuerySet[Book]:
    return Book.objects.filter(partner=partner).order_by("-created_at", "-id")


def book_get(*, partner: Partner, book_id: int) -> Book:
    """The partner's book; another partner's is as missing as one that never was."""
    book = None
    if 1 <= book_id <= ID_MAX:
        book = Book.objects.filter(partner=partner, pk=book_id).first()
    if book is None:
        raise NotFound("No such book")
    return book
