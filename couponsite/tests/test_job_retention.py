"""The queue's finished jobs (succeeded, failed, cancelled, aborted) are
deleted QUEUE_JOB_RETENTION_HOURS after they ended, by procrastinate's own
delete_old_jobs, run hourly by a real worker here; queued jobs stay."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django import app

from couponsite.tests.queue import run_queued_jobs

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])

ENDED_BY = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled", "aborted": "aborted"}


def a_job(status: str, *, hours_ago: float) -> int:
    """A job of ``status`` whose last event is that many hours old; a queued
    one is scheduled a day ahead, so that the worker leaves it alone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, status, scheduled_at) VALUES ('default', %s, %s,"
            " CASE WHEN %s = 'todo' THEN now() + interval '1 day' END) RETURNING id",
            [f"tests.{status}", status, status],
        )
        job_id = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE procrastinate_events SET at = now() - make_interval(hours => %s) WHERE job_id = %s",
            [hours_ago, job_id],
        )
        cursor.execute(
            "INSERT INTO procrastinate_events (job_id, type, at) VALUES (%s, %s, now() - make_interval(hours => %s))",
            [job_id, ENDED_BY.get(status, "deferred"), hours_ago],
        )
    return job_id


def jobs_left(*job_ids: int) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM procrastinate_jobs WHERE id = ANY(%s)", [list(job_ids)])
        return {row[0] for row in cursor.fetchall()}


def run_the_hourly_purge() -> None:
    app.configure_task("couponsite.tasks.delete_finished_jobs").defer(timestamp=int(timezone.now().timestamp()))
    run_queued_jobs()


def test_finished_jobs_go_after_the_retention_and_queued_ones_stay(settings):
    settings.QUEUE_JOB_RETENTION_HOURS = 72
    old_finished = [a_job(status, hours_ago=73) for status in ENDED_BY]
    recent = [a_job("succeeded", hours_ago=71), a_job("failed", hours_ago=1)]
    queued = a_job("todo", hours_ago=500)

    run_the_hourly_purge()

    assert jobs_left(*old_finished, *recent, queued) == {*recent, queued}


def test_the_setting_decides_and_zero_keeps_them_forever(settings):
    job = a_job("failed", hours_ago=30)

    settings.QUEUE_JOB_RETENTION_HOURS = None
    run_the_hourly_purge()
    assert jobs_left(job) == {job}

    settings.QUEUE_JOB_RETENTION_HOURS = 24
    run_the_hourly_purge()
    assert jobs_left(job) == set()
