"""Two probes. ``/healthz``, liveness: this process can serve, its database
answers. ``/readyz``, readiness: everything requests lean on answers (the
database, Redis when configured), for a load balancer or an operator to see.

``/readyz`` runs django-health-check's checks (each in its own thread, each
with a time budget) and answers JSON with our names for them: the library's
own report names hosts and ports, which a public probe should not.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import redis.asyncio
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.views import HealthCheckView

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
        return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)


def readiness_checks() -> list[tuple[str, HealthCheck]]:
    checks: list[tuple[str, HealthCheck]] = [("database", _budgeted(Database()))]
    if settings.REDIS_URL:
        checks.append(("redis", _budgeted(Redis(client_factory=_redis_client))))
    return checks


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
