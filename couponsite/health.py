"""Two probes. ``/healthz``, liveness: this process can serve, its database
answers. ``/readyz``, readiness: everything requests lean on answers (the
database, Redis when configured, the task queue's tables), for a load
balancer or an operator to see, with the queue's job counts beside.

``/readyz`` runs django-health-check's checks (each in its own thread, each
with a time budget) and answers JSON with our names for them: the library's
own report names hosts and ports, which a public probe should not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

import redis.asyncio
from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from couponsite.tasks import STALLED_AFTER_SECONDS

CHECK_BUDGET = datetime.timedelta(seconds=2)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers a query, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "up"})


class Readiness(HealthCheckView):
    """200 when every dependency answers; 503 naming the ones that do not."""

    http_method_names = ["get"]

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        named = readiness_checks()
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for _name, check in named))
        checks = {name: "down" if result.error else "up" for (name, _check), result in zip(named, results, strict=True)}
        ready = "down" not in checks.values()
        body = {"status": "ok" if ready else "unavailable", **checks}
        queue = next(check for name, check in named if name == "queue")
        if queue.jobs:
            body["queue_jobs"] = queue.jobs
        return JsonResponse(body, status=200 if ready else 503)


def readiness_checks() -> list[tuple[str, HealthCheck]]:
    checks: list[tuple[str, HealthCheck]] = [("database", _budgeted(Database()))]
    if settings.REDIS_URL:
        checks.append(("redis", _budgeted(Redis(client_factory=_redis_client))))
    checks.append(("queue", _budgeted(QueueJobs())))
    return checks


# Jobs waiting their turn, running, running on a worker that stopped sending
# heartbeats (retried within a minute by couponsite.tasks), and failed.
QUEUE_JOBS_SQL = """
SELECT
    count(*) FILTER (WHERE job.status = 'todo' AND coalesce(job.scheduled_at, now()) <= now()),
    count(*) FILTER (WHERE job.status = 'doing'),
    count(*) FILTER (
        WHERE job.status = 'doing'
          AND coalesce(worker.last_heartbeat, '-infinity') < now() - make_interval(secs => %(stalled_after)s)
    ),
    count(*) FILTER (WHERE job.status = 'failed'),
    extract(epoch FROM now() - min(coalesce(job.scheduled_at, deferred.at)) FILTER (
        WHERE job.status = 'todo' AND coalesce(job.scheduled_at, now()) <= now()
    ))
FROM procrastinate_jobs AS job
LEFT JOIN procrastinate_workers AS worker ON worker.id = job.worker_id
LEFT JOIN LATERAL (
    SELECT min(event.at) AS at FROM procrastinate_events AS event
    WHERE event.job_id = job.id AND event.type = 'deferred' AND job.status = 'todo'
) AS deferred ON true
"""


@dataclasses.dataclass
class QueueJobs(HealthCheck):
    """The queue's tables answer on the queue's own connection. Failed or
    stalled jobs are reported, not a reason to take the node out of service."""

    jobs: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def run(self) -> None:
        try:
            with connections["queue"].temporary_connection() as cursor:
                cursor.execute(QUEUE_JOBS_SQL, {"stalled_after": STALLED_AFTER_SECONDS})
                waiting, running, stalled, failed, oldest = cursor.fetchone()
        except DatabaseError as error:
            raise ServiceUnavailable("The task queue's tables do not answer") from error
        self.jobs = {
            "waiting": waiting,
            "running": running,
            "stalled": stalled,
            "failed": failed,
            "oldest_waiting_seconds": round(oldest) if oldest is not None else None,
        }


def _budgeted(check: HealthCheck) -> HealthCheck:
    check.timeout = CHECK_BUDGET
    return check


def _redis_client() -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS,
        retry=None,
    )
