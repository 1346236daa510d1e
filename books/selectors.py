"""Reads of books, always within one partner."""

from __future__ import annotations

from django.db.models import QuerySet

from books.models import Book, Partner
from couponsite.bounds import ID_MAX
from couponsite.errors import NotFound


def partner_find(*, reference: str) -> Partner | None:
    """The partner an operator names: by name first (names are unique in any case), else by id."""
    partner = Partner.objects.filter(name__iexact=reference.strip()).first()
    if partner is None and reference.strip().isdigit() and int(reference) <= ID_MAX:
        partner = Partner.objects.filter(pk=int(reference)).first()
    return partner


def book_list(*, partner: Partner, name: str | None = None, is_active: bool | None = None) -> QuerySet[Book]:
    """The partner's books, newest first; ``name`` matches any part of a name, in any case."""
    books = Book.objects.filter(partner=partner)
    if name is not None:
        books = books.filter(name__icontains=name)
    if is_active is not None:
        books = books.filter(is_active=is_active)
    return books.order_by("-created_at", "-id")


def book_get(*, partner: Partner, book_id: int) -> Book:
    """The partner's book; another partner's is as missing as one that never was."""
    book = None
    if 1 <= book_id <= ID_MAX:
        book = Book.objects.filter(partner=partner, pk=book_id).first()
    if book is None:
        raise NotFound("No such book")
    return book
