from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from books.models import Book, Partner, PartnerAPIKey
from coupons.codes import pattern_keyspace
from couponsite.errors import InvalidInput, NotFound

# Limits fit PostgreSQL's integer column with room to spare.
MAX_LIMIT = 1_000_000_000


def partner_create(*, name: str) -> Partner:
    name = name.strip()
    if not name:
        raise InvalidInput("A partner needs a name", errors=[{"field": "name", "detail": "This field is required."}])
    taken = InvalidInput(
        f"A partner named {name!r} exists already",
        errors=[{"field": "name", "detail": "A partner with this name exists already."}],
    )
    if Partner.objects.filter(name__iexact=name).exists():
        raise taken
    try:
        with transaction.atomic():
            return Partner.objects.create(name=name)
    except IntegrityError as error:  # created by a concurrent request since our check
        raise taken from error


def api_key_issue(*, partner: Partner, name: str = "default") -> tuple[PartnerAPIKey, str]:
    """A new key for the partner; the plain key is returned once and never stored."""
    api_key, plain_key = PartnerAPIKey.objects.create_key(partner=partner, name=name)
    return api_key, plain_key


@transaction.atomic
def api_key_revoke(*, prefix: str) -> PartnerAPIKey:
    api_key = PartnerAPIKey.objects.select_for_update().filter(prefix=prefix).first()
    if api_key is None:
        raise NotFound(f"No API key with prefix {prefix!r}")
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key


BOOK_FIELDS = (
    "name",
    "description",
    "max_codes_per_user",
    "max_redemptions_per_coupon",
    "valid_from",
    "valid_until",
    "code_pattern",
    "is_active",
)


def _validate_book(book: Book) -> None:
    errors = []
    if not book.name or not book.name.strip():
        errors.append({"field": "name", "detail": "This field is required."})
    if book.valid_from and book.valid_until and book.valid_until <= book.valid_from:
        errors.append({"field": "valid_until", "detail": "Must be later than valid_from."})
    for field in ("max_codes_per_user", "max_redemptions_per_coupon"):
        value = getattr(book, field)
        if value is not None and not 1 <= value <= MAX_LIMIT:
            errors.append({"field": field, "detail": f"Must be empty or between 1 and {MAX_LIMIT}."})
    try:
        pattern_keyspace(book.code_pattern)
    except InvalidInput as error:
        errors.extend({"field": "code_pattern", "detail": e["detail"]} for e in error.errors)
    if errors:
        raise InvalidInput("The book is not valid", errors=errors)


def book_create(*, partner: Partner, name: str, **fields: Any) -> Book:
    unknown = set(fields) - set(BOOK_FIELDS)
    if unknown:
        raise TypeError(f"unknown book fields: {sorted(unknown)}")
    book = Book(partner=partner, name=name, **fields)
    _validate_book(book)
    book.save()
    return book


def book_update(*, book: Book, **fields: Any) -> Book:
    """Change some of the book's fields; returns the book as stored.

    The rules are checked against the row as it stands, locked: two changes
    made at once (one moving ``valid_from``, the other ``valid_until``) could
    each pass on a stale copy and together break the window, which the
    database's check constraint would then answer with a server error.
    """
    unknown = set(fields) - set(BOOK_FIELDS)
    if unknown:
        raise TypeError(f"unknown book fields: {sorted(unknown)}")
    with transaction.atomic():
        book = Book.objects.select_for_update().get(pk=book.pk)
        for field, value in fields.items():
            setattr(book, field, value)
        _validate_book(book)
        book.save(update_fields=[*fields, "updated_at"])
    return book
