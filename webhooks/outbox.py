"""Each endpoint's outbox is the events table, read in the feed's order
(``coupons.feed``): the change and its event commit together, so a
rolled-back change has no event and a committed one cannot be lost. A fan-out
turns the events past the endpoint's cursor into deliveries and moves the
cursor, in one short transaction per batch; nothing is written on the
partner's request beyond the event itself, and a bulk change of 100,000
coupons is 100 batches of one endpoint's drain, not 100,000 jobs.

The cursor only passes events whose transaction is older than the oldest
one still running, so an event of a slower transaction that commits later
still sorts after the cursor (the feed's rule). It starts at the oldest
transaction running when the endpoint was created, which may be older than
events already committed then: those, seen committed by the creation's
snapshot, are skipped, so an endpoint gets exactly the events committed after
it was created."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction

from coupons.event_types import FEED_ACTIONS, FEED_TYPES
from webhooks.models import WebhookDelivery, WebhookEndpoint

FAN_OUT_BATCH = 1000
RETRY_WINDOW = timedelta(hours=24)

# The events the outbox still needs, which the events' retention purge keeps
# however old (``coupons.retention``, registered in ``WebhooksConfig.ready``):
# those past the cursor of an active endpoint of their partner (not fanned out
# yet), and those a delivery names (pending, or ended and still listed, so a
# staff retry finds its event). A switched-off endpoint's cursor holds
# nothing: switched back on after longer than the retention, it goes on from
# the events still kept, as a poller of the feed would.
OUTBOX_KEEPS_EVENT_SQL = """
EXISTS (
    SELECT 1 FROM webhooks_webhookendpoint endpoint
    WHERE endpoint.partner_id = event.partner_id AND endpoint.is_active
      AND (event.transaction_id, event.id) > (endpoint.cursor_transaction_id, endpoint.cursor_event_id)
) OR EXISTS (SELECT 1 FROM webhooks_webhookdelivery delivery WHERE delivery.event_id = event.id)
"""

# The horizon and the events below it in one statement, one snapshot.
PENDING_EVENTS_SQL = """
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT horizon.xmin::text, event.id, event.transaction_id::text, event.action
FROM horizon
LEFT JOIN LATERAL (
    SELECT id, transaction_id, action
    FROM coupons_couponevent
    WHERE partner_id = %(partner_id)s
      AND transaction_id < horizon.xmin
      AND (transaction_id, id) > (%(cursor_transaction_id)s::text::xid8, %(cursor_event_id)s)
      AND (%(created_snapshot)s::text IS NULL
           OR NOT pg_visible_in_snapshot(transaction_id, %(created_snapshot)s::text::pg_snapshot))
      AND action = ANY(%(actions)s)
    ORDER BY transaction_id, id
    LIMIT %(limit)s
) event ON true
"""


def outbox_fan_out(*, endpoint: WebhookEndpoint, now: datetime, batch: int = FAN_OUT_BATCH) -> int:
    """Queue a delivery to ``endpoint`` of each of its partner's events past
    its cursor that it subscribes to; how many were queued."""
    queued = 0
    while True:
        added, full = _fan_out_batch(endpoint_id=endpoint.pk, now=now, batch=batch)
        queued += added
        if not full:
            return queued


def _fan_out_batch(*, endpoint_id: object, now: datetime, batch: int) -> tuple[int, bool]:
    with transaction.atomic():
        # Two fan-outs of one endpoint take turns; the second reads the cursor
        # the first moved.
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id, is_active=True).first()
        if endpoint is None:
            return 0, False
        actions = [FEED_ACTIONS[t] for t in endpoint.event_types] if endpoint.event_types else list(FEED_TYPES)
        with connection.cursor() as cursor:
            cursor.execute(
                PENDING_EVENTS_SQL,
                {
                    "partner_id": endpoint.partner_id,
                    "cursor_transaction_id": str(endpoint.cursor_transaction_id),
                    "cursor_event_id": endpoint.cursor_event_id,
                    "created_snapshot": endpoint.created_snapshot,
                    "actions": actions,
                    "limit": batch,
                },
            )
            rows = cursor.fetchall()
        events = [(int(event_id), int(xid), action) for _, event_id, xid, action in rows if event_id is not None]
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                endpoint=endpoint,
                event_id=event_id,
                event_type=FEED_TYPES[action],
                message_id=str(event_id),
                next_attempt_at=now,
                created_at=now,
                give_up_at=now + RETRY_WINDOW,
            )
            for event_id, _, action in events
        )
        full = len(events) == batch
        if full:
            endpoint.cursor_transaction_id, endpoint.cursor_event_id = events[-1][1], events[-1][0]
        else:
            # Every event below the horizon has been seen: the cursor may jump
            # to it, past the events of other types.
            horizon = int(rows[0][0])
            if horizon > endpoint.cursor_transaction_id:
                endpoint.cursor_transaction_id, endpoint.cursor_event_id = horizon, 0
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            cursor_transaction_id=str(endpoint.cursor_transaction_id), cursor_event_id=endpoint.cursor_event_id
        )
        return len(events), full
