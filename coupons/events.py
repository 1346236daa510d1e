"""The audit trail's records of a whole book (codes added, exported, the book
changed), of a partner's end user erased, and the snapshot helpers the events
share. A coupon's events are written with its transitions
(``coupons.lifecycle``); these are the others.

Each carries who acted, the request's id and what it counted, in ``data``
(DESIGN.md: for ``book.codes_added``, the book id, the count and how).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from books.models import Book, Partner
from coupons.models import CouponEvent, EventAction
from couponsite.actors import Actor
from couponsite.request_ids import current_request_id


class CodesAddedMethod(enum.StrEnum):
    GENERATE = "generate"
    UPLOAD = "upload"  # through the API or the admin, capped per request
    IMPORT = "import"  # the operator's command


def snapshot_time(moment: datetime | None) -> str | None:
    """A time as the API writes it (ISO 8601 in UTC with "Z"); the SQL twin is
    ``coupons_api_time`` (migration 0006)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"


def _snapshot_value(value: Any) -> Any:
    return snapshot_time(value) if isinstance(value, datetime) else value


def _record(*, book: Book, action: EventAction, actor: Actor, data: dict[str, Any]) -> CouponEvent:
    return CouponEvent.objects.create(
        partner_id=book.partner_id,
        book=book,
        action=action,
        actor_kind=actor.kind.value,
        actor_id=actor.identifier,
        request_id=current_request_id(),
        data={"book_id": book.pk, **data},
    )


def event_codes_added(*, book: Book, count: int, method: CodesAddedMethod, actor: Actor) -> CouponEvent:
    return _record(book=book, action=EventAction.CODES_ADDED, actor=actor, data={"count": count, "method": method})


def event_codes_exported(*, book: Book, count: int, state: str | None, actor: Actor) -> CouponEvent:
    return _record(book=book, action=EventAction.CODES_EXPORTED, actor=actor, data={"count": count, "state": state})


def event_book_updated(*, book: Book, changes: dict[str, Any], actor: Actor) -> CouponEvent:
    """``changes``: each field changed and its new value."""
    values = {field: _snapshot_value(value) for field, value in sorted(changes.items())}
    return _record(book=book, action=EventAction.BOOK_UPDATED, actor=actor, data={"changes": values})


def event_user_erased(*, partner: Partner, pseudonym: str, counts: dict[str, int], actor: Actor) -> CouponEvent:
    """The erasure of one of the partner's end users: of no book, naming the
    pseudonym (never the erased id) and how many rows of each kind changed."""
    return CouponEvent.objects.create(
        partner=partner,
        action=EventAction.USER_ERASED,
        user_id=pseudonym,
        actor_kind=actor.kind.value,
        actor_id=actor.identifier,
        request_id=current_request_id(),
        data={"user_id": pseudonym, **counts},
    )
