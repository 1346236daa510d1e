"""Deliveries over real sockets to a local receiver, signed so that the
specification's own library verifies them, retried on the test's clock."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from coupons.events import snapshot_time
from coupons.feed import event_feed
from coupons.services import coupon_assign_random, coupon_void
from couponsite.actors import Actor
from webhooks.delivery import BACKOFF_MAX, webhook_endpoint_drain
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from webhooks.tests.helpers import Clock, book_coupons, endpoint_for, fan_out_until, stocked_book
from webhooks.tests.receiver import Reply, receiving

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("test")


def verified(endpoint, received) -> dict:
    return Webhook(endpoint.secret).verify(received.body, received.headers)


def test_an_event_arrives_signed_with_the_feeds_id_type_and_data():
    partner, book = stocked_book()
    with receiving(Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        coupon = coupon_assign_random(partner=partner, book_id=book.pk, user_id="u1", actor=ACTOR)
        fan_out_until(endpoint, 1)

        result = webhook_endpoint_drain(endpoint_id=endpoint.pk)

        assert (result.succeeded, result.failed_attempts) == (1, 0)
        [received] = receiver.received
    [feed_event] = event_feed(partner=partner)
    payload = verified(endpoint, received)
    assert payload == {
        "id": feed_event.id,
        "type": "coupon.assigned",
        "created_at": snapshot_time(feed_event.created_at),
        "data": feed_event.data,
    }
    assert payload["data"]["code"] == coupon.code and payload["data"]["user_id"] == "u1"
    assert received.headers["webhook-id"] == str(feed_event.id)
    assert received.path == "/hooks" and received.headers["content-type"] == "application/json"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (200, "")
    assert attempt.duration_ms < 10_000


def test_two_failures_then_success_is_three_posts_of_the_same_message():
    partner, book = stocked_book()
    clock = Clock()
    with receiving(Reply(500), Reply(503), Reply(204)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        coupon_assign_random(partner=partner, book_id=book.pk, user_id="u1", actor=ACTOR)
        fan_out_until(endpoint, 1, now=clock())

        outcomes = []
        for _ in range(3):
            outcomes.append(webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock).succeeded)
            # Not yet due: the backoff holds it back.
            assert webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock).succeeded == 0
            clock.advance(BACKOFF_MAX)

        assert outcomes == [0, 0, 1]
        assert len(receiver.received) == 3
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        assert len({r.body for r in receiver.received}) == 1
        for received in receiver.received:
            verified(endpoint, received)
    attempts = list(WebhookAttempt.objects.order_by("id").values_list("status_code", "error"))
    assert attempts == [(500, "HTTP 500"), (503, "HTTP 503"), (204, "")]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_a_receiver_that_never_answers_is_retried_with_growing_waits_then_the_delivery_fails():
    partner, book = stocked_book()
    clock = Clock()
    with receiving(Reply(200, delay=5)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        coupon_assign_random(partner=partner, book_id=book.pk, user_id="u1", actor=ACTOR)
        fan_out_until(endpoint, 1, now=clock())
        start = clock()

        waits = []
        while WebhookDelivery.objects.get().status == DeliveryStatus.PENDING:
            webhook_endpoint_drain(endpoint_id=endpoint.pk, clock=clock, timeout=0.2, rng=random.Random(7))
            due = WebhookDelivery.objects.get().next_attempt_at
            waits.append(due - clock())
            clock.now = max(due, clock.now)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.finished_at - start >= timedelta(hours=24)
    assert delivery.finished_at - start < timedelta(hours=24, seconds=5)
    errors = set(WebhookAttempt.objects.values_list("error", flat=True))
    assert errors == {"No answer within 0.2 s"}
    assert delivery.attempt_count == WebhookAttempt.objects.count() == len(receiver.received)
    # Doubling from 30 s (drawn between half and all of it) up to 2 hours.
    assert timedelta(seconds=15) <= waits[0] <= timedelta(seconds=30)
    assert waits[1] > waits[0] and waits[4] > waits[3]
    assert max(waits) <= BACKOFF_MAX
    assert 10 < delivery.attempt_count < 30


def test_a_rolled_back_change_sends_nothing():
    partner, book = stocked_book()
    first, second = book_coupons(book)[:2]
    with receiving(Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        with pytest.raises(RuntimeError), transaction.atomic():
            coupon_void(coupon=first, actor=ACTOR)
            raise RuntimeError("the change fails after its event was written")
        coupon_void(coupon=second, actor=ACTOR)
        fan_out_until(endpoint, 1)

        webhook_endpoint_drain(endpoint_id=endpoint.pk)

        assert [json.loads(r.body)["data"]["code"] for r in receiver.received] == [second.code]
    assert WebhookDelivery.objects.count() == 1
