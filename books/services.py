"""Partners, their API keys and their books: the writes, and the rules they
keep (``*_validate`` check an unsaved object without writing, so that the admin
can show the same errors on its form before it saves through the same service)."""

from __future__ import annotations

import enum
from datetime import datetime

from django.db import IntegrityError, transaction

from books.codes import ALPHABET, DEFAULT_CHARSET, charset_alphabet, pattern_keyspace
from books.models import DEFAULT_CODE_PATTERN, Book, Partner, PartnerAPIKey
from couponsite.bounds import ASSIGNMENT_TTL_SECONDS_MAX, ASSIGNMENT_TTL_SECONDS_MIN, LIMIT_MAX, metadata_problem
from couponsite.errors import InvalidInput, NotFound


class Unchanged(enum.Enum):
    """The default of every field of an update: leave it as stored."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


# Partners and keys.


def partner_validate(partner: Partner) -> None:
    """A partner needs a name no other partner has, in any case."""
    name = partner.name.strip()
    if not name:
        raise InvalidInput.field("name", "This field is required.")
    if Partner.objects.filter(name__iexact=name).exclude(pk=partner.pk).exists():
        raise _name_taken(name)


def _name_taken(name: str) -> InvalidInput:
    return InvalidInput(
        f"A partner named {name!r} exists already",
        errors=[{"field": "name", "detail": "A partner with this name exists already."}],
    )


def partner_create(*, name: str) -> Partner:
    partner = Partner(name=name.strip())
    partner_validate(partner)
    try:
        with transaction.atomic():
            partner.save()
    except IntegrityError as error:  # created by a concurrent request since our check
        raise _name_taken(partner.name) from error
    return partner


def partner_set_active(*, partner: Partner, is_active: bool) -> Partner:
    """Switch a partner on or off; an inactive partner's keys are refused at once."""
    Partner.objects.filter(pk=partner.pk).update(is_active=is_active)
    partner.is_active = is_active
    return partner


def api_key_issue(
    *, partner: Partner, name: str = "default", expiry_date: datetime | None = None
) -> tuple[PartnerAPIKey, str]:
    """A new key for the partner; the plain key is returned once and never stored."""
    return PartnerAPIKey.objects.create_key(partner=partner, name=name, expiry_date=expiry_date)


@transaction.atomic
def api_key_revoke(*, prefix: str) -> PartnerAPIKey:
    api_key = PartnerAPIKey.objects.select_for_update().select_related("partner").filter(prefix=prefix).first()
    if api_key is None:
        raise NotFound(f"No API key with prefix {prefix!r}")
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key


# Books.


def book_validate(book: Book) -> None:
    """Every rule of a book, checked on an unsaved instance; raises InvalidInput
    listing each field that breaks one."""
    errors = []
    if not book.name or not book.name.strip():
        errors.append({"field": "name", "detail": "This field is required."})
    if book.valid_from and book.valid_until and book.valid_until <= book.valid_from:
        errors.append({"field": "valid_until", "detail": "Must be later than valid_from."})
    metadata_error = metadata_problem(book.metadata)
    if metadata_error:
        errors.append({"field": "metadata", "detail": metadata_error})
    for field in ("max_codes_per_user", "max_redemptions_per_coupon"):
        value = getattr(book, field)
        if value is not None and not 1 <= value <= LIMIT_MAX:
            errors.append({"field": field, "detail": f"Must be empty or between 1 and {LIMIT_MAX}."})
    ttl = book.assignment_ttl_seconds
    if ttl is not None and not ASSIGNMENT_TTL_SECONDS_MIN <= ttl <= ASSIGNMENT_TTL_SECONDS_MAX:
        detail = f"Must be empty or between {ASSIGNMENT_TTL_SECONDS_MIN} and {ASSIGNMENT_TTL_SECONDS_MAX}."
        errors.append({"field": "assignment_ttl_seconds", "detail": detail})
    alphabet = ALPHABET
    try:
        alphabet = charset_alphabet(book.charset)
    except InvalidInput as error:
        errors.extend(error.errors)
    try:
        pattern_keyspace(book.code_pattern, alphabet)
    except InvalidInput as error:
        errors.extend({"field": "code_pattern", "detail": e["detail"]} for e in error.errors)
    if errors:
        raise InvalidInput("The book is not valid", errors=errors)


def book_create(
    *,
    partner: Partner,
    name: str,
    description: str = "",
    max_codes_per_user: int | None = None,
    max_redemptions_per_coupon: int | None = 1,
    assignment_ttl_seconds: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    code_pattern: str = DEFAULT_CODE_PATTERN,
    charset: str = DEFAULT_CHARSET,
    is_active: bool = True,
    metadata: dict | None = None,
) -> Book:
    book = Book(
        partner=partner,
        name=name,
        description=description,
        max_codes_per_user=max_codes_per_user,
        max_redemptions_per_coupon=max_redemptions_per_coupon,
        assignment_ttl_seconds=assignment_ttl_seconds,
        valid_from=valid_from,
        valid_until=valid_until,
        code_pattern=code_pattern,
        charset=charset,
        is_active=is_active,
        metadata={} if metadata is None else metadata,
    )
    book_validate(book)
    book.save()
    return book


def book_update(
    *,
    book: Book,
    name: str | Unchanged = UNCHANGED,
    description: str | Unchanged = UNCHANGED,
    max_codes_per_user: int | Unchanged | None = UNCHANGED,
    max_redemptions_per_coupon: int | Unchanged | None = UNCHANGED,
    assignment_ttl_seconds: int | Unchanged | None = UNCHANGED,
    valid_from: datetime | Unchanged | None = UNCHANGED,
    valid_until: datetime | Unchanged | None = UNCHANGED,
    code_pattern: str | Unchanged = UNCHANGED,
    charset: str | Unchanged = UNCHANGED,
    is_active: bool | Unchanged = UNCHANGED,
    metadata: dict | Unchanged = UNCHANGED,
) -> Book:
    """Change the fields given; returns the book as stored.

    The rules are checked against the row as it stands, locked: two changes
    made at once (one moving ``valid_from``, the other ``valid_until``) could
    each pass on a stale copy and together break the window, which the
    database's check constraint would then answer with a server error.
    """
    changes = {
        field: value
        for field, value in {
            "name": name,
            "description": description,
            "max_codes_per_user": max_codes_per_user,
            "max_redemptions_per_coupon": max_redemptions_per_coupon,
            "assignment_ttl_seconds": assignment_ttl_seconds,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "code_pattern": code_pattern,
            "charset": charset,
            "is_active": is_active,
            "metadata": metadata,
        }.items()
        if value is not UNCHANGED
    }
    with transaction.atomic():
        book = Book.objects.select_for_update().get(pk=book.pk)
        for field, value in changes.items():
            setattr(book, field, value)
        book_validate(book)
        book.save(update_fields=[*changes, "updated_at"])
    return book
