"""Housekeeping runs on the queue's workers as periodic tasks (no crontab):
each task calls the same service as its manage.py command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessLog
from django.utils import timezone
from procrastinate.contrib.django import app

from api.models import IdempotencyKey, RateCounter
from books.tests.factories import BookFactory, PartnerFactory
from coupons.models import Coupon, CouponEvent, CouponState, EventPurge
from coupons.services import coupon_assign_random
from coupons.tests.factories import BookEventFactory, expire, locked_coupon, make_coupons
from couponsite.actors import Actor
from couponsite.tests.queue import run_queued_jobs
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import webhook_create, webhook_endpoint_disable, webhook_send_test

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])

SCHEDULE = {
    "coupons.tasks.release_expired_locks": "* * * * *",
    "coupons.tasks.release_expired_assignments": "* * * * *",
    "couponsite.tasks.retry_stalled_jobs": "* * * * *",
    "api.tasks.purge_idempotency_keys": "17 * * * *",
    "api.tasks.purge_rate_counters": "23 * * * *",
    "couponsite.tasks.delete_finished_jobs": "41 * * * *",
    "exports.tasks.delete_expired_exports": "*/10 * * * *",
    "couponsite.tasks.delete_old_login_records": "41 3 * * *",
    "webhooks.tasks.queue_webhook_drains": "* * * * *",
    "webhooks.tasks.purge_webhook_deliveries": "29 4 * * *",
    "coupons.tasks.purge_events": "47 4 * * *",
}


def defer(task_name: str) -> None:
    app.configure_task(task_name).defer(timestamp=int(timezone.now().timestamp()))


def test_every_housekeeping_task_is_scheduled_on_the_workers():
    scheduled = {task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()}
    assert scheduled == SCHEDULE


def test_the_lock_release_task_writes_back_expired_locks():
    coupon, _ = locked_coupon(Actor.api_key("k"))
    expire(coupon)

    defer("coupons.tasks.release_expired_locks")
    run_queued_jobs()

    assert Coupon.objects.get(pk=coupon.pk).state == CouponState.ASSIGNED
    event = CouponEvent.objects.filter(coupon=coupon).latest("id")
    assert (event.actor_kind, event.actor_id) == ("system", "release_expired_locks")


def test_the_purge_tasks_delete_old_idempotency_keys_and_ended_rate_counters():
    partner = PartnerFactory()
    now = timezone.now()
    for key, age in (("old", timedelta(hours=25)), ("fresh", timedelta(hours=1))):
        IdempotencyKey.objects.create(
            partner=partner,
            key=key,
            fingerprint="f",
            method="POST",
            path="/",
            response_status=201,
            response_body="{}",
            response_content_type="application/json",
            created_at=now - age,
        )
    RateCounter.objects.create(key="ended", count=1, expires_at=now - timedelta(minutes=1))
    RateCounter.objects.create(key="running", count=1, expires_at=now + timedelta(minutes=1))

    defer("api.tasks.purge_idempotency_keys")
    defer("api.tasks.purge_rate_counters")
    run_queued_jobs()

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["running"]


def test_the_assignment_release_task_puts_expired_assignments_back():
    book = BookFactory(assignment_ttl_seconds=60)
    make_coupons(book, 1)
    coupon = coupon_assign_random(partner=book.partner, book_id=book.pk, user_id="u1", actor=Actor.api_key("k"))
    Coupon.objects.filter(pk=coupon.pk).update(assigned_at=timezone.now() - timedelta(minutes=2))

    defer("coupons.tasks.release_expired_assignments")
    run_queued_jobs()

    assert Coupon.objects.get(pk=coupon.pk).state == CouponState.AVAILABLE
    event = CouponEvent.objects.filter(coupon=coupon).latest("id")
    assert (event.action, event.actor_id, event.user_id) == ("assignment_expired", "release_expired_assignments", "u1")


def test_the_login_records_task_keeps_90_days():
    AccessLog.objects.create(username="recent", ip_address="203.0.113.7")
    old = AccessLog.objects.create(username="old", ip_address="203.0.113.7")
    AccessLog.objects.filter(pk=old.pk).update(attempt_time=timezone.now() - timedelta(days=91))

    defer("couponsite.tasks.delete_old_login_records")
    run_queued_jobs()

    assert list(AccessLog.objects.values_list("username", flat=True)) == ["recent"]


def test_the_daily_purges_delete_old_events_and_ended_deliveries(settings):
    settings.EVENT_RETENTION_DAYS = 400
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    book = BookFactory()
    BookEventFactory(book=book, created_at=timezone.now() - timedelta(days=401))
    recent = BookEventFactory(book=book)
    endpoint = webhook_create(partner=book.partner, url="http://127.0.0.1:9/hooks", event_types=[])
    ended = webhook_send_test(endpoint=endpoint)
    # Switched off: its cursor (where the oldest running transaction stood) holds no event.
    webhook_endpoint_disable(endpoint=endpoint, reason="test")
    WebhookDelivery.objects.filter(pk=ended.pk).update(
        status=DeliveryStatus.SUCCEEDED, finished_at=timezone.now() - timedelta(days=31)
    )

    defer("coupons.tasks.purge_events")
    defer("webhooks.tasks.purge_webhook_deliveries")
    run_queued_jobs()

    assert list(CouponEvent.objects.filter(book=book).values_list("pk", flat=True)) == [recent.pk]
    assert EventPurge.objects.get().deleted == 1
    assert not WebhookDelivery.objects.filter(pk=ended.pk).exists()
