"""What happens around deliveries over time: a worker killed mid-send, a
rotated secret, an endpoint failing for days, the test event, staff retries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from coupons.feed import event_feed
from coupons.services import coupon_void
from couponsite.actors import Actor
from couponsite.tests.servers import database_url
from webhooks.delivery import DISABLE_AFTER, LEASE, webhook_deliveries_purge, webhook_endpoint_drain
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    webhook_delete,
    webhook_delivery_retry,
    webhook_endpoint_disable,
    webhook_rotate_secret,
    webhook_send_test,
    webhook_update,
)
from webhooks.tests.helpers import Clock, book_coupons, endpoint_for, fan_out_until, stocked_book
from webhooks.tests.receiver import Reply, receiving

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])

ACTOR = Actor.system("test")


DRAIN_IN_A_WORKER = """
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "couponsite.settings")
django.setup()
from webhooks.delivery import webhook_endpoint_drain
webhook_endpoint_drain(endpoint_id=sys.argv[1])
"""


def test_a_worker_killed_in_the_middle_of_a_delivery_loses_nothing():
    partner, book = stocked_book()
    with receiving(Reply(200, delay=60), Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        coupon_void(coupon=book_coupons(book)[0], actor=ACTOR)
        fan_out_until(endpoint, 1)
        env = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": database_url(connection.settings_dict)}
        worker = subprocess.Popen(
            [sys.executable, "-c", DRAIN_IN_A_WORKER, str(endpoint.pk)], env=env, cwd=Path(settings.BASE_DIR)
        )
        try:
            assert receiver.arrived.wait(60), "the worker never sent the delivery"
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)

        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, WebhookAttempt.objects.count()) == (DeliveryStatus.PENDING, 0)
        clock = Clock()
        assert webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock).succeeded == 0  # leased still
        clock.advance(LEASE)
        assert webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock).succeeded == 1

        assert len(receiver.received) == 2
        assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_after_a_rotation_both_secrets_verify_for_24_hours_then_only_the_new_one():
    partner, _ = stocked_book()
    clock = Clock()
    with receiving(Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        old_secret = endpoint.secret
        new_secret = webhook_rotate_secret(endpoint=endpoint, now=clock()).secret
        webhook_send_test(endpoint=endpoint, now=clock())
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)
        clock.advance(timedelta(hours=24))
        webhook_send_test(endpoint=endpoint, now=clock())
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)

        during, after = receiver.received
    assert new_secret != old_secret
    assert Webhook(old_secret).verify(during.body, during.headers) == Webhook(new_secret).verify(
        during.body, during.headers
    )
    assert Webhook(new_secret).verify(after.body, after.headers)["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(after.body, after.headers)


def test_the_test_event_is_delivered_and_never_enters_the_feed():
    partner, _ = stocked_book()
    with receiving(Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        delivery = webhook_send_test(endpoint=endpoint)
        webhook_endpoint_drain(endpoint_id=endpoint.pk)

        [received] = receiver.received
    payload = Webhook(endpoint.secret).verify(received.body, received.headers)
    assert payload["type"] == "webhook.test" and payload["id"] == delivery.message_id
    assert payload["data"]["webhook_id"] == str(endpoint.pk)
    assert event_feed(partner=partner) == []


def test_an_endpoint_failing_for_five_days_is_switched_off_with_the_reason():
    partner, _ = stocked_book()
    clock = Clock()
    with receiving(Reply(500)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        first_failure = clock()
        while WebhookEndpoint.objects.get(pk=endpoint.pk).is_active:
            assert clock() - first_failure <= DISABLE_AFTER + timedelta(hours=3)
            webhook_send_test(endpoint=endpoint, now=clock())
            webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)
            clock.advance(timedelta(hours=6))
        attempts_when_off = len(receiver.received)
        webhook_send_test(endpoint=endpoint, now=clock())
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)

        assert len(receiver.received) == attempts_when_off  # off: nothing more is sent
    endpoint.refresh_from_db()
    assert endpoint.failing_since == first_failure
    assert "every delivery failed for 5 days" in endpoint.disabled_reason
    # Switched back on by the partner: a fresh start.
    webhook_update(endpoint=endpoint, is_active=True)
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason, endpoint.failing_since) == (True, "", None)


def test_a_success_clears_the_failing_streak():
    partner, _ = stocked_book()
    clock = Clock()
    with receiving(Reply(500), Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        webhook_send_test(endpoint=endpoint, now=clock())
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since == clock()
        clock.advance(timedelta(hours=1))
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)

        assert len(receiver.received) == 2
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is None


def test_staff_retry_a_failed_delivery_with_a_new_day_of_retries():
    partner, _ = stocked_book()
    clock = Clock()
    with receiving(Reply(500), Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        delivery = webhook_send_test(endpoint=endpoint, now=clock())
        clock.advance(timedelta(hours=25))
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.FAILED  # past its 24 hours: the first failure is final

        retried = webhook_delivery_retry(delivery=delivery, now=clock())
        assert (retried.status, retried.give_up_at) == (DeliveryStatus.PENDING, clock() + timedelta(hours=24))
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)

        assert len(receiver.received) == 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 2)


def test_staff_disable_an_endpoint_with_a_reason_and_its_deliveries_wait():
    partner, _ = stocked_book()
    with receiving(Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        webhook_send_test(endpoint=endpoint)
        webhook_endpoint_disable(endpoint=endpoint, reason="Partner asked by phone")
        webhook_endpoint_drain(endpoint_id=endpoint.pk)

        assert receiver.received == []
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, "Partner asked by phone")
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING


def test_finished_deliveries_are_purged_after_30_days_and_pending_ones_stay():
    partner, _ = stocked_book()
    clock = Clock()
    with receiving(Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        webhook_send_test(endpoint=endpoint, now=clock())
        webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock)
    waiting = webhook_send_test(endpoint=endpoint, now=clock())

    assert webhook_deliveries_purge(now=clock.now + timedelta(days=29)) == 0
    assert webhook_deliveries_purge(now=clock.now + timedelta(days=31)) == 1

    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert not WebhookAttempt.objects.exists()


def test_an_endpoint_deleted_while_its_delivery_is_on_the_wire_ends_the_drain_quietly():
    partner, _ = stocked_book()
    with receiving(Reply(200, delay=30)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        webhook_send_test(endpoint=endpoint)
        outcome = {}

        def drain() -> None:
            try:
                outcome["result"] = webhook_endpoint_drain(endpoint_id=endpoint.pk)
            finally:
                connection.close()

        thread = threading.Thread(target=drain)
        thread.start()
        assert receiver.arrived.wait(30)
        webhook_delete(endpoint=endpoint)
        receiver.release.set()
        thread.join(30)

    assert outcome["result"].succeeded == 1
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()
