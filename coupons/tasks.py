"""Periodic housekeeping of coupons, run by the queue's workers."""

from __future__ import annotations

from django.utils import timezone
from procrastinate.contrib.django import app

from coupons.retention import events_purge
from coupons.services import assignments_release_expired, locks_release_expired
from couponsite.actors import Actor


@app.periodic(cron="* * * * *")
@app.task(queueing_lock="release_expired_locks")
def release_expired_locks(timestamp: int) -> int:
    return locks_release_expired(actor=Actor.system("release_expired_locks"))


@app.periodic(cron="* * * * *")
@app.task(queueing_lock="release_expired_assignments")
def release_expired_assignments(timestamp: int) -> int:
    return assignments_release_expired(actor=Actor.system("release_expired_assignments"))


# One run at a time (lock), at most one waiting (queueing lock).
@app.periodic(cron="47 4 * * *")
@app.task(queueing_lock="purge_events", lock="purge_events")
def purge_events(timestamp: int) -> int:
    return events_purge(now=timezone.now()).deleted
