"""Housekeeping runs on the queue's workers as periodic tasks (no crontab):
each task calls the same service as its manage.py command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from procrastinate.contrib.django import app

from api.models import IdempotencyKey, RateCounter
from books.tests.factories import PartnerFactory
from coupons.models import Coupon, CouponEvent, CouponState
from coupons.tests.factories import expire, locked_coupon
from couponsite.actors import Actor
from couponsite.tests.queue import run_queued_jobs

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])

SCHEDULE = {
    "coupons.tasks.release_expired_locks": "* * * * *",
    "couponsite.tasks.retry_stalled_jobs": "* * * * *",
    "api.tasks.purge_idempotency_keys": "17 * * * *",
    "api.tasks.purge_rate_counters": "23 * * * *",
    "couponsite.tasks.delete_finished_jobs": "41 * * * *",
    "exports.tasks.delete_expired_exports": "*/10 * * * *",
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
