"""How long events are kept, and the purge that deletes older ones.

Events older than ``EVENT_RETENTION_DAYS`` are deleted by a daily task
(``coupons.tasks.purge_events``) in batches of ids, each batch one short
transaction of its own: a purge of millions of rows never holds a long
transaction (which would hold back the feed's horizon for every partner) nor
locks more than a batch of rows. The append-only trigger lets the purge
through only for rows older than the cutoff it declares (migration
``coupons/0011``).

An event a reader still needs is kept, however old: the layers above say
which, each with an SQL condition on the row ``event``
(``register_event_keeper``; the webhook outbox registers its own). Each run is
recorded (``EventPurge``), and for each partner the last event of its feed
deleted (``EventPurgeMark``), so that the feed can tell a poller that events
it has not read are gone (``coupons.feed``).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from coupons.event_types import FEED_TYPES
from coupons.purge_records import EventPurge
from couponsite.db import send_with_next

logger = logging.getLogger(__name__)

EVENT_PURGE_BATCH = 5_000

# Readers that still need an event, by name: an SQL condition on ``event`` (a
# row of coupons_couponevent) under which the purge keeps it.
EVENT_KEEPERS: dict[str, str] = {}


def register_event_keeper(*, name: str, condition: str) -> None:
    """Keep every event for which ``condition`` holds; from an app's ``ready()``."""
    EVENT_KEEPERS[name] = condition


@dataclasses.dataclass(frozen=True)
class FeedReach:
    """How far back the feed goes: events are kept ``retention_days`` (None:
    forever); every event created since ``available_since`` is there, older
    ones may have been deleted (None: no purge has run)."""

    retention_days: int | None
    available_since: datetime | None


def feed_reach() -> FeedReach:
    return FeedReach(
        retention_days=settings.EVENT_RETENTION_DAYS,
        available_since=EventPurge.objects.aggregate(since=Max("before"))["since"],
    )


@dataclasses.dataclass(frozen=True)
class PurgeResult:
    deleted: int = 0
    kept: int = 0
    batches: int = 0


# One batch: the next ids from ``after_id``; of them, those created before the
# cutoff and needed by no reader are deleted, their partners' marks moved on,
# and the run's counts added, in one statement. It returns the batch's last id,
# how many of its rows were old, and how many of those were deleted.
PURGE_BATCH_SQL = """
WITH batch AS (
    SELECT id, created_at FROM coupons_couponevent WHERE id > %(after_id)s ORDER BY id LIMIT %(batch)s
), deleted AS (
    DELETE FROM coupons_couponevent event USING batch
    WHERE event.id = batch.id AND batch.created_at < %(before)s AND NOT ({keep})
    RETURNING event.id, event.partner_id, event.transaction_id, event.action
), feed_deleted AS (
    SELECT partner_id, transaction_id, id, max(id) OVER (PARTITION BY partner_id) AS through_id
    FROM deleted WHERE transaction_id IS NOT NULL AND action = ANY(%(feed_actions)s)
), marked AS (
    INSERT INTO coupons_eventpurgemark AS mark (partner_id, transaction_id, event_id, through_id)
    SELECT DISTINCT ON (partner_id) partner_id, transaction_id, id, through_id
    FROM feed_deleted ORDER BY partner_id, transaction_id DESC, id DESC
    ON CONFLICT (partner_id) DO UPDATE SET
        transaction_id = CASE WHEN (excluded.transaction_id, excluded.event_id) > (mark.transaction_id, mark.event_id)
                              THEN excluded.transaction_id ELSE mark.transaction_id END,
        event_id = CASE WHEN (excluded.transaction_id, excluded.event_id) > (mark.transaction_id, mark.event_id)
                        THEN excluded.event_id ELSE mark.event_id END,
        through_id = greatest(mark.through_id, excluded.through_id)
), counts AS (
    SELECT (SELECT max(id) FROM batch) AS last_id,
           (SELECT count(*) FROM batch WHERE created_at < %(before)s) AS old,
           (SELECT count(*) FROM deleted) AS deleted
), recorded AS (
    UPDATE coupons_eventpurge run
    SET deleted = run.deleted + counts.deleted, kept = run.kept + counts.old - counts.deleted
    FROM counts WHERE run.id = %(purge_id)s
)
SELECT last_id, old, deleted FROM counts
"""


def event_retention() -> timedelta | None:
    """How long events are kept (``EVENT_RETENTION_DAYS``); None: forever."""
    days = settings.EVENT_RETENTION_DAYS
    return None if days is None else timedelta(days=days)


def events_purge(*, now: datetime, batch: int = EVENT_PURGE_BATCH) -> PurgeResult:
    """Delete the events created more than the retention before ``now`` that
    no reader needs, a batch of ids at a time, oldest ids first, until a batch
    holds no event that old. Safe to run again, and beside traffic."""
    kept_for = event_retention()
    if kept_for is None:
        return PurgeResult()
    before = now - kept_for
    purge = EventPurge.objects.create(started_at=timezone.now(), before=before)
    deleted = kept = batches = 0
    after_id = 0
    while True:
        last_id, old, batch_deleted = _purge_batch(purge_id=purge.pk, after_id=after_id, before=before, batch=batch)
        batches += 1
        deleted, kept = deleted + batch_deleted, kept + old - batch_deleted
        if last_id is None or old == 0:
            break
        after_id = last_id
    EventPurge.objects.filter(pk=purge.pk).update(finished_at=timezone.now())
    if kept:
        logger.info("Kept %d events older than %s for the readers that still need them", kept, before)
    return PurgeResult(deleted=deleted, kept=kept, batches=batches)


def _purge_batch(*, purge_id: int, after_id: int, before: datetime, batch: int) -> tuple[int | None, int, int]:
    keep = " OR ".join(f"({condition})" for condition in EVENT_KEEPERS.values()) or "false"
    with transaction.atomic():
        # The trigger's leave for this transaction only, sent with the DELETE.
        send_with_next("SELECT set_config('coupons.events_purge_before', %s, true)", [before.isoformat()])
        with connection.cursor() as cursor:
            cursor.execute(
                PURGE_BATCH_SQL.format(keep=keep),
                {
                    "after_id": after_id,
                    "batch": batch,
                    "before": before,
                    "feed_actions": list(FEED_TYPES),
                    "purge_id": purge_id,
                },
            )
            return cursor.fetchone()
