"""Deliveries run on the task queue's workers: a periodic job queues one
drain per endpoint, and the drain sends, outside any partner's request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django import app
from standardwebhooks.webhooks import Webhook

from coupons.services import coupon_assign_random, coupon_void
from couponsite.actors import Actor
from couponsite.tests.queue import run_queued_jobs
from webhooks.services import DRAIN_TASK, webhook_send_test
from webhooks.tests.helpers import book_coupons, endpoint_for, fan_out_until, stocked_book
from webhooks.tests.receiver import Reply, receiving

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])
ACTOR = Actor.system("test")


def drain_jobs() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM procrastinate_jobs WHERE task_name = %s", [DRAIN_TASK])
        return [status for (status,) in cursor.fetchall()]


def test_the_periodic_job_queues_one_drain_per_endpoint_and_the_drain_delivers_every_event():
    partner, book = stocked_book()
    with receiving(*[Reply(200)] * 5) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        coupon_assign_random(partner=partner, book_id=book.pk, user_id="u1", actor=ACTOR)
        for coupon in book_coupons(book)[-3:]:
            coupon_void(coupon=coupon, actor=ACTOR)
        # The feed hands out events once every older transaction has ended, in
        # any database of the server (another test's may still run): wait for that.
        fan_out_until(endpoint, 4)

        app.configure_task("webhooks.tasks.queue_webhook_drains").defer(timestamp=int(timezone.now().timestamp()))
        run_queued_jobs()

        types = [Webhook(endpoint.secret).verify(r.body, r.headers)["type"] for r in receiver.received]
    assert types == ["coupon.assigned", "coupon.voided", "coupon.voided", "coupon.voided"]
    # Jobs per endpoint, not per event: the one this run queued, and at most
    # one more from the worker's own periodic run of queue_webhook_drains.
    assert 1 <= len(drain_jobs()) <= 2


def test_a_test_event_queues_its_drain_once_the_request_commits():
    partner, _ = stocked_book()
    with receiving(Reply(204)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        webhook_send_test(endpoint=endpoint)
        webhook_send_test(endpoint=endpoint)  # the drain already queued sends both
        assert receiver.received == []

        run_queued_jobs()

        assert [Webhook(endpoint.secret).verify(r.body, r.headers)["type"] for r in receiver.received] == [
            "webhook.test",
            "webhook.test",
        ]
    assert 1 <= len(drain_jobs()) <= 2  # one for both test events (and perhaps the periodic run's)


def test_a_drain_that_cannot_be_queued_leaves_the_delivery_for_the_periodic_drain(monkeypatch, caplog):
    partner, _ = stocked_book()
    endpoint = endpoint_for(partner, "http://127.0.0.1:9/hooks")

    def unreachable(*args, **kwargs):
        raise RuntimeError("queue unreachable")

    monkeypatch.setattr(app, "configure_task", unreachable)
    delivery = webhook_send_test(endpoint=endpoint)

    assert delivery.status == "pending"
    assert [r.levelname for r in caplog.records if "could not be queued now" in r.getMessage()] == ["WARNING"]
