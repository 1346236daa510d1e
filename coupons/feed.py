"""The partner's events feed: its events in an order new events can only
join at the end, so that a client polling with the last id it saw never
misses nor repeats one.

Ids come from a sequence when a row is written, not when its transaction
commits: a slow transaction can commit id 10 after id 11 was committed and
read. So the feed does not follow ids. Each event stores the id of the
transaction that wrote it (``transaction_id``, an ``xid8``), and the feed
hands out only events whose transaction is older than the oldest one still
running (``pg_snapshot_xmin(pg_current_snapshot())``): every such transaction
has ended, so the set of those events is final and no event can appear among
them later. They are ordered by (transaction id, event id); an event written
later has a transaction id at least the horizon's, so it sorts after every
event handed out. ``after`` names an event; the page continues after its
(transaction id, id). The cost: an event shows once every transaction that
started writing before it has ended, so a long write transaction (a bulk
load) delays the feed of every partner until it ends.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from django.db import connection

from books.models import Partner
from coupons.event_types import FEED_ACTIONS, FEED_TYPES
from couponsite.errors import InvalidInput

FEED_PAGE_SIZE = 100
FEED_PAGE_SIZE_MAX = 1000

FEED_SQL = """
SELECT event.id, event.action, event.created_at, event.data
FROM coupons_couponevent event
WHERE event.partner_id = %(partner_id)s
  AND event.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND event.action = ANY(%(actions)s)
  AND (%(book_id)s::bigint IS NULL OR event.book_id = %(book_id)s::bigint)
  {after}
ORDER BY event.transaction_id, event.id
LIMIT %(limit)s
"""
AFTER_SQL = """
  AND (event.transaction_id, event.id) > (
      SELECT seen.transaction_id, seen.id FROM coupons_couponevent seen WHERE seen.id = %(after)s
  )
"""
SEEN_SQL = """
SELECT 1 FROM coupons_couponevent
WHERE id = %(after)s AND partner_id = %(partner_id)s AND transaction_id IS NOT NULL AND action = ANY(%(actions)s)
"""


@dataclasses.dataclass(frozen=True)
class FeedEvent:
    id: int
    type: str
    created_at: datetime
    data: dict[str, Any]


def event_feed(
    *,
    partner: Partner,
    after: int | None = None,
    types: list[str] | None = None,
    book_id: int | None = None,
    limit: int = FEED_PAGE_SIZE,
) -> list[FeedEvent]:
    """The partner's next events after the event ``after`` (from the start
    without it), of ``types`` (all without), of one book if given."""
    unknown = sorted(set(types or ()) - set(FEED_ACTIONS))
    if unknown:
        raise InvalidInput.field("type", f"Unknown event type {unknown[0]!r}; one of {', '.join(FEED_TYPES.values())}.")
    actions = [FEED_ACTIONS[feed_type] for feed_type in types] if types else list(FEED_TYPES)
    parameters = {
        "partner_id": partner.pk,
        "actions": actions,
        "book_id": book_id,
        "after": after,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        if after is not None:
            cursor.execute(SEEN_SQL, {**parameters, "actions": list(FEED_TYPES)})
            if cursor.fetchone() is None:
                raise InvalidInput.field("after", "after must be the id of one of your events from this feed.")
        cursor.execute(FEED_SQL.format(after=AFTER_SQL if after is not None else ""), parameters)
        rows = cursor.fetchall()
    return [
        # Django's backend reads jsonb as text (for JSONField to decode).
        FeedEvent(id=event_id, type=FEED_TYPES[action], created_at=created_at, data=json.loads(data))
        for event_id, action, created_at, data in rows
    ]
