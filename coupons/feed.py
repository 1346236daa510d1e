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
from couponsite.errors import EventsExpired, InvalidInput

FEED_PAGE_SIZE = 100
FEED_PAGE_SIZE_MAX = 1000

EVENTS_SQL = """
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
FEED_SQL = EVENTS_SQL.format(after="")
# With ``after``: where it stands, and the page after it, in one statement
# (one snapshot: a purge committing meanwhile cannot slip between them). It
# starts after the event ``after`` names, if still there, or after the
# partner's purge mark (``coupons.purge_records.EventPurgeMark``) if ``after``
# is the mark's event; the mark's columns come along for the check.
FEED_AFTER_SQL = """
WITH origin AS (
    SELECT seen.transaction_id AS seen_transaction_id, mark.transaction_id AS mark_transaction_id,
           mark.event_id AS mark_event_id, mark.through_id AS mark_through_id,
           coalesce(seen.transaction_id, CASE WHEN mark.event_id = %(after)s THEN mark.transaction_id END) AS start
    FROM (SELECT 1) one
    LEFT JOIN coupons_couponevent seen
           ON seen.id = %(after)s AND seen.partner_id = %(partner_id)s AND seen.transaction_id IS NOT NULL
          AND seen.action = ANY(%(feed_actions)s)
    LEFT JOIN coupons_eventpurgemark mark ON mark.partner_id = %(partner_id)s
)
SELECT origin.seen_transaction_id::text, origin.mark_transaction_id::text, origin.mark_event_id,
       origin.mark_through_id, page.id, page.action, page.created_at, page.data
FROM origin LEFT JOIN LATERAL ({events}) page ON true
""".format(  # noqa: S608
    events=EVENTS_SQL.format(after="AND (event.transaction_id, event.id) > (origin.start, %(after)s)")
)


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
        "feed_actions": list(FEED_TYPES),
        "book_id": book_id,
        "after": after,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        if after is None:
            cursor.execute(FEED_SQL, parameters)
            rows = cursor.fetchall()
        else:
            cursor.execute(FEED_AFTER_SQL, parameters)
            rows = cursor.fetchall()
            _check_after(after, *rows[0][:4])
            rows = [row[4:] for row in rows if row[4] is not None]
    return [
        # Django's backend reads jsonb as text (for JSONField to decode).
        FeedEvent(id=event_id, type=FEED_TYPES[action], created_at=created_at, data=json.loads(data))
        for event_id, action, created_at, data in rows
    ]


def _check_after(after: int, seen: str | None, mark: str | None, mark_id: int | None, through_id: int | None) -> None:
    """Refuse an ``after`` that is not the partner's event, or after which the
    retention purge deleted an event of the partner's not yet read.

    The mark is the last of the partner's events the purge deleted, in the
    feed's order. Still there, ``after`` is fine unless the mark lies after
    it. Deleted itself, ``after`` is fine only as the mark's own event
    (nothing after it was deleted); any other of the partner's deleted ids
    (at most ``through_id``) lies before the mark; the rest were never the
    partner's events."""
    if seen is not None:
        if mark is not None and (int(mark), mark_id) > (int(seen), after):
            raise EventsExpired()
        return
    if mark is not None and after == mark_id:
        return
    if mark is not None and after <= through_id:
        raise EventsExpired()
    raise InvalidInput.field("after", "after must be the id of one of your events from this feed.")
