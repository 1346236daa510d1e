"""The outbox: each endpoint's deliveries come from the events table, read in
the feed's commit order, in batches, from the endpoint's creation on."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from coupons.models import CouponEvent
from coupons.services import coupon_assign_random, coupon_void
from couponsite.actors import Actor
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbox import outbox_fan_out
from webhooks.tests.helpers import book_coupons, endpoint_for, fan_out_until, stocked_book

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("test")
URL = "http://127.0.0.1:9/hooks"  # never called here


def delivered_event_ids(endpoint) -> list[int]:
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").values_list("event_id", flat=True))


def test_a_bulk_change_is_queued_in_batches_in_feed_order_for_each_subscribed_endpoint_only():
    partner, book = stocked_book(coupons=2_500)
    all_types = endpoint_for(partner, URL)
    voids_only = endpoint_for(partner, URL, event_types=["coupon.voided"])
    assigns_only = endpoint_for(partner, URL, event_types=["coupon.assigned"])
    with transaction.atomic():
        for coupon in book_coupons(book):
            coupon_void(coupon=coupon, actor=ACTOR)

    fan_out_until(all_types, 2_500)
    queued = outbox_fan_out(endpoint=voids_only, now=all_types.created_at, batch=1000)
    outbox_fan_out(endpoint=assigns_only, now=all_types.created_at)

    events = list(CouponEvent.objects.filter(book=book, action="void").order_by("transaction_id", "id"))
    assert queued == 2_500
    assert delivered_event_ids(all_types) == delivered_event_ids(voids_only) == [e.pk for e in events]
    assert delivered_event_ids(assigns_only) == []
    # Caught up: nothing is queued twice.
    assert outbox_fan_out(endpoint=all_types, now=all_types.created_at) == 0
    assert WebhookDelivery.objects.count() == 5_000


def test_an_endpoint_gets_the_events_after_its_creation_and_never_another_partners():
    partner, book = stocked_book()
    other_partner, other_book = stocked_book()
    before, after = book_coupons(book)[:2]
    coupon_void(coupon=before, actor=ACTOR)
    endpoint = endpoint_for(partner, URL)
    theirs = endpoint_for(other_partner, URL)
    coupon_void(coupon=after, actor=ACTOR)
    coupon_void(coupon=book_coupons(other_book)[0], actor=ACTOR)

    fan_out_until(endpoint, 1)
    fan_out_until(theirs, 1)

    assert delivered_event_ids(endpoint) == [CouponEvent.objects.get(coupon=after).pk]
    assert delivered_event_ids(theirs) == [CouponEvent.objects.get(book=other_book).pk]


class OlderTransaction:
    """A transaction with a transaction id, open in a thread of its own until
    ``end()``: a long import, or any other database's on the same server."""

    def __init__(self) -> None:
        self.begun, self.may_end = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.begun.wait(30)

    def _run(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()")
                self.begun.set()
                self.may_end.wait(30)
        finally:
            connection.close()

    def end(self) -> None:
        self.may_end.set()
        self.thread.join(30)


def test_an_event_committed_before_the_endpoint_was_created_is_not_sent_while_an_older_transaction_runs():
    partner, book = stocked_book()
    before, after = book_coupons(book)[:2]
    older = OlderTransaction()
    coupon_void(coupon=before, actor=ACTOR)  # committed before the endpoint exists
    endpoint = endpoint_for(partner, URL)
    older.end()
    coupon_void(coupon=after, actor=ACTOR)

    fan_out_until(endpoint, 1)

    assert delivered_event_ids(endpoint) == [CouponEvent.objects.get(coupon=after).pk]


def test_an_event_whose_transaction_ran_when_the_endpoint_was_created_is_sent_once_it_commits():
    partner, book = stocked_book()
    written, may_commit = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                coupon_void(coupon=book_coupons(book)[0], actor=ACTOR)
                written.set()
                may_commit.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(30)
    endpoint = endpoint_for(partner, URL)
    may_commit.set()
    thread.join(30)

    fan_out_until(endpoint, 1)

    assert delivered_event_ids(endpoint) == [CouponEvent.objects.get(book=book, action="void").pk]


def test_an_event_of_a_slower_transaction_that_commits_later_is_still_queued_once():
    partner, book = stocked_book()
    endpoint = endpoint_for(partner, URL)
    slow_written, slow_may_commit = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                coupon_assign_random(partner=partner, book_id=book.pk, user_id="slow", actor=ACTOR)
                slow_written.set()
                slow_may_commit.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert slow_written.wait(30)
    coupon_assign_random(partner=partner, book_id=book.pk, user_id="fast", actor=ACTOR)  # commits first, higher id

    outbox_fan_out(endpoint=endpoint, now=endpoint.created_at)
    assert delivered_event_ids(endpoint) == []  # the slow one still runs: neither is past the horizon
    slow_may_commit.set()
    thread.join(30)
    fan_out_until(endpoint, 2)
    outbox_fan_out(endpoint=endpoint, now=endpoint.created_at)

    users = list(
        WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").values_list("event__user_id", flat=True)
    )
    assert users == ["slow", "fast"]


def test_a_switched_off_endpoint_queues_nothing():
    partner, book = stocked_book()
    endpoint = endpoint_for(partner, URL)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    coupon_void(coupon=book_coupons(book)[0], actor=ACTOR)

    assert outbox_fan_out(endpoint=endpoint, now=endpoint.created_at) == 0
    assert not WebhookDelivery.objects.exists()
