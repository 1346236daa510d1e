"""The queue's own housekeeping, periodic tasks of every worker (procrastinate
defers each run once, however many workers there are).

A worker that dies mid-job (killed, machine lost) stops sending heartbeats;
its jobs stay ``doing`` until ``jobs_retry_stalled`` puts them back in the
queue, so a job is never lost, only run again. Every task is written to be
run again: it starts over from the beginning or finds its work done.
"""

from __future__ import annotations

import io
import logging

from django.conf import settings
from django.core.management import call_command
from procrastinate import JobContext
from procrastinate.contrib.django import app
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Status

logger = logging.getLogger(__name__)

# A worker sends a heartbeat every 10 s (procrastinate's default); three missed
# ones mean it is gone.
STALLED_AFTER_SECONDS = 30
# The record of staff logins and logouts (django-axes' access logs).
LOGIN_RECORDS_KEPT_DAYS = 90


async def jobs_retry_stalled(*, job_manager, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS) -> int:
    """Put back in the queue every job whose worker stopped sending heartbeats."""
    stalled = await job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    for job in stalled:
        logger.warning("Retrying job %s (%s): its worker stopped answering", job.id, job.task_name)
        try:
            await job_manager.retry_job(job)
        except UniqueViolation:
            # A periodic task's next run is queued already (same queueing lock):
            # that one does the work; this one ends as failed.
            logger.warning("Job %s (%s) is queued again already: marked failed", job.id, job.task_name)
            await job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
    await job_manager.prune_stalled_workers(seconds_since_heartbeat=seconds_since_heartbeat)
    return len(stalled)


@app.periodic(cron="* * * * *")
@app.task(queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    return await jobs_retry_stalled(job_manager=context.app.job_manager)


@app.periodic(cron="41 * * * *")
@app.task(queueing_lock="delete_finished_jobs", pass_context=True)
async def delete_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Finished jobs, kept ``QUEUE_JOB_RETENTION_HOURS`` for a look (failed ones
    too: the worker's log has their exception); none deleted when it is 0."""
    hours = settings.QUEUE_JOB_RETENTION_HOURS
    if hours is None:
        return
    await context.app.job_manager.delete_old_jobs(
        nb_hours=hours, include_failed=True, include_cancelled=True, include_aborted=True
    )


@app.periodic(cron="41 3 * * *")
@app.task(queueing_lock="delete_old_login_records")
def delete_old_login_records(timestamp: int) -> None:
    call_command("axes_reset_logs", age=LOGIN_RECORDS_KEPT_DAYS, stdout=io.StringIO())
