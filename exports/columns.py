"""What each kind of export writes: its header and its rows, read from a
server-side cursor so that a file of millions of rows never sits in memory."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db.models import Model, QuerySet

from coupons.models import CouponEvent
from coupons.selectors import EXPORT_COLUMNS, coupon_export_rows
from redemptions.models import Redemption

CHUNK_SIZE = 5_000

Columns = Sequence[tuple[str, Callable[[Any], object]]]

EVENT_COLUMNS: Columns = [
    ("id", lambda e: e.pk),
    ("created_at", lambda e: e.created_at.isoformat()),
    ("code", lambda e: e.coupon.code if e.coupon else ""),  # none on a book-level event
    ("book_id", lambda e: e.book_id),
    ("action", lambda e: e.action),
    ("from_state", lambda e: e.from_state),
    ("to_state", lambda e: e.to_state),
    ("user_id", lambda e: e.user_id),
    ("actor_kind", lambda e: e.actor_kind),
    ("actor_id", lambda e: e.actor_id),
    ("request_id", lambda e: e.request_id),
    ("redemption_id", lambda e: e.redemption_id),
    ("partner_id", lambda e: e.partner_id),
    ("data", lambda e: json.dumps(e.data, sort_keys=True) if e.data is not None else ""),
]

REDEMPTION_COLUMNS: Columns = [
    ("id", lambda r: r.pk),
    ("created_at", lambda r: r.created_at.isoformat()),
    ("code", lambda r: r.coupon.code),
    ("book_id", lambda r: r.coupon.book_id),
    ("book", lambda r: r.coupon.book.name),
    ("partner", lambda r: r.coupon.book.partner.name),
    ("user_id", lambda r: r.user_id),
    ("metadata", lambda r: json.dumps(r.metadata, ensure_ascii=False, sort_keys=True)),
    ("rolled_back_at", lambda r: r.rolled_back_at.isoformat() if r.rolled_back_at else ""),
    ("rollback_reason", lambda r: r.rollback_reason),
]

# The model of each selection kind, how its rows are ordered and joined, and its columns.
SELECTIONS: dict[str, tuple[type[Model], Sequence[str], Sequence[str], Columns]] = {
    "events": (CouponEvent, ("id",), ("coupon",), EVENT_COLUMNS),
    "redemptions": (Redemption, ("created_at", "id"), ("coupon__book__partner",), REDEMPTION_COLUMNS),
}


def book_code_rows(*, book, state: str | None, database: str) -> tuple[Sequence[str], Iterator[Sequence[object]]]:
    rows = (
        (code, effective_state, user_id, assigned_at.isoformat() if assigned_at else "", redemption_count)
        for code, effective_state, user_id, assigned_at, redemption_count in coupon_export_rows(
            book=book, state=state, database=database
        )
    )
    return EXPORT_COLUMNS, rows


def selection_rows(*, kind: str, queryset: QuerySet) -> tuple[Sequence[str], Iterator[Sequence[object]]]:
    _model, ordering, joins, columns = SELECTIONS[kind]
    objects = queryset.select_related(*joins).order_by(*ordering).iterator(chunk_size=CHUNK_SIZE)
    return [title for title, _ in columns], ([value(obj) for _, value in columns] for obj in objects)
