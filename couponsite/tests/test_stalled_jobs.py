"""Jobs of a worker that stopped sending heartbeats go back in the queue; a
periodic job whose next run is queued already ends as failed instead, and
does not stop the others from being retried."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection
from procrastinate.contrib.django import app

from couponsite.tasks import jobs_retry_stalled

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])


def a_dead_worker_running(*jobs: tuple[str, str | None]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '5 minutes') RETURNING id"
        )
        worker_id = cursor.fetchone()[0]
        for task_name, queueing_lock in jobs:
            cursor.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, status, worker_id)"
                " VALUES ('default', %s, %s, 'doing', %s)",
                [task_name, queueing_lock, worker_id],
            )


def statuses() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name, status FROM procrastinate_jobs ORDER BY id")
        found: dict[str, list[str]] = {}
        for task_name, status in cursor.fetchall():
            found.setdefault(task_name, []).append(status)
        return found


def retry_stalled() -> int:
    async def retry() -> int:
        with app.replace_connector(app.connector.get_worker_connector()) as worker:
            async with worker.open_async():
                return await jobs_retry_stalled(job_manager=worker.job_manager)

    return asyncio.run(retry())


def test_a_dead_workers_jobs_are_queued_again_and_a_duplicate_periodic_run_ends_failed():
    a_dead_worker_running(("exports.run_export", None), ("couponsite.tasks.retry_stalled_jobs", "retry_stalled_jobs"))
    with connection.cursor() as cursor:  # the next minute's run, queued by a live worker
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, status)"
            " VALUES ('default', 'couponsite.tasks.retry_stalled_jobs', 'retry_stalled_jobs', 'todo')"
        )

    assert retry_stalled() == 2

    assert statuses() == {
        "exports.run_export": ["todo"],
        "couponsite.tasks.retry_stalled_jobs": ["failed", "todo"],
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_workers")
        assert cursor.fetchone()[0] == 0  # the dead worker is forgotten
