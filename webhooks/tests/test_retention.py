"""Retention and the webhooks: the events' purge never deletes an event the
outbox still needs (not fanned out yet for an active endpoint, or named by a
delivery), and ended deliveries go after WEBHOOK_DELIVERY_RETENTION_DAYS, a
batch at a time, with their attempts."""

from __future__ import annotations

import pytest
from django.utils import timezone

from coupons.models import CouponEvent
from coupons.retention import events_purge
from coupons.tests.factories import BookEventFactory, days_ago
from webhooks.delivery import webhook_deliveries_purge
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from webhooks.outbox import outbox_fan_out
from webhooks.services import webhook_endpoint_disable, webhook_update
from webhooks.tests.helpers import endpoint_for, fan_out_until, stocked_book

pytestmark = pytest.mark.django_db(transaction=True)

URL = "http://127.0.0.1:9/hooks"  # never called here


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.EVENT_RETENTION_DAYS = 400
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30


def exists(event) -> bool:
    return CouponEvent.objects.filter(pk=event.pk).exists()


def purge() -> int:
    return events_purge(now=timezone.now(), batch=1).deleted


def test_an_old_event_stays_until_the_outbox_has_sent_it_and_its_delivery_is_purged():
    partner, book = stocked_book()
    endpoint = endpoint_for(partner, URL)
    old = BookEventFactory(book=book, created_at=days_ago(500))  # after the endpoint's cursor
    _, other_book = stocked_book()
    theirs = BookEventFactory(book=other_book, created_at=days_ago(500))  # no endpoint wants it

    assert purge() == 1
    assert exists(old) and not exists(theirs)

    assert fan_out_until(endpoint, 1) == 1  # the cursor passes it; a pending delivery names it
    assert purge() == 0
    WebhookDelivery.objects.filter(event_id=old.pk).update(status=DeliveryStatus.FAILED, finished_at=days_ago(29))
    assert purge() == 0  # an ended delivery still listed names it: a staff retry would send it
    assert webhook_deliveries_purge(now=timezone.now()) == 0

    WebhookDelivery.objects.filter(event_id=old.pk).update(finished_at=days_ago(31))
    assert webhook_deliveries_purge(now=timezone.now()) == 1
    assert purge() == 1
    assert not exists(old)


def test_a_switched_off_endpoint_holds_only_the_events_of_its_pending_deliveries():
    partner, book = stocked_book()
    endpoint = endpoint_for(partner, URL)
    queued = BookEventFactory(book=book, created_at=days_ago(500))
    fan_out_until(endpoint, 1)
    webhook_endpoint_disable(endpoint=endpoint, reason="test")
    not_queued = BookEventFactory(book=book, created_at=days_ago(450))

    assert purge() == 1
    assert exists(queued) and not exists(not_queued)

    # Switched back on, it goes on from the events still kept.
    webhook_update(endpoint=endpoint, is_active=True)
    endpoint.refresh_from_db()
    assert outbox_fan_out(endpoint=endpoint, now=timezone.now()) == 0
    assert list(WebhookDelivery.objects.values_list("event_id", flat=True)) == [queued.pk]


def test_an_active_endpoint_far_behind_keeps_its_partners_whole_backlog():
    partner, book = stocked_book()
    endpoint_for(partner, URL)
    backlog = [BookEventFactory(book=book, created_at=days_ago(days)) for days in (700, 600, 500)]

    result = events_purge(now=timezone.now(), batch=2)

    assert (result.deleted, result.kept) == (0, 3)
    assert all(exists(event) for event in backlog)


def ended_delivery(endpoint, *, status: str, finished_days_ago: float | None) -> WebhookDelivery:
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="webhook.test",
        message_id=f"test_{WebhookDelivery.objects.count()}",
        status=status,
        next_attempt_at=now,
        created_at=now,
        give_up_at=now,
        finished_at=None if finished_days_ago is None else days_ago(finished_days_ago),
    )
    WebhookAttempt.objects.create(
        delivery=delivery, endpoint=endpoint, attempted_at=now, status_code=500, duration_ms=1
    )
    return delivery


def test_ended_deliveries_go_with_their_attempts_a_batch_at_a_time_and_the_setting_decides_when(settings):
    partner, _ = stocked_book()
    endpoint = endpoint_for(partner, URL)
    old = [
        ended_delivery(endpoint, status=DeliveryStatus.SUCCEEDED, finished_days_ago=31),
        ended_delivery(endpoint, status=DeliveryStatus.FAILED, finished_days_ago=45),
        ended_delivery(endpoint, status=DeliveryStatus.SUCCEEDED, finished_days_ago=60),
    ]
    recent = ended_delivery(endpoint, status=DeliveryStatus.FAILED, finished_days_ago=29)
    pending = ended_delivery(endpoint, status=DeliveryStatus.PENDING, finished_days_ago=None)

    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = None
    assert webhook_deliveries_purge(now=timezone.now(), batch=1) == 0
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 50
    assert webhook_deliveries_purge(now=timezone.now(), batch=1) == 1
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    assert webhook_deliveries_purge(now=timezone.now(), batch=1) == 2

    kept = [recent.pk, pending.pk]
    assert list(WebhookDelivery.objects.order_by("id").values_list("pk", flat=True)) == kept
    assert sorted(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == kept
    assert not any(WebhookDelivery.objects.filter(pk=delivery.pk).exists() for delivery in old)
