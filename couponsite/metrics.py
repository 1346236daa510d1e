"""Prometheus metrics (prometheus-client): what the service counts, and the
``/metrics`` endpoint that reports it.

Under gunicorn each worker is a process of its own. ``gunicorn.conf.py`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start; each then writes its
counts into files of that folder, and ``/metrics``, in whichever worker it
lands, adds up every worker's files (prometheus-client's multiprocess mode).
Without that variable (runserver, tests, commands) the counts stay in the
process.

Gauges that read the database (``DatabaseGauge``) are computed when scraped,
not kept: one query each, with a time budget.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "coupons_http_requests",
    "HTTP requests answered, by URL route (the pattern, not the path), method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "coupons_http_request_duration_seconds",
    "Time from a request reaching Django to its answer, by URL route and method.",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TRANSITIONS = Counter(
    "coupons_coupon_transitions",
    "Coupon transitions committed, by transition (the lifecycle table's names: assign, lock, unlock, "
    "expire_lock, redeem_partially, redeem_fully, roll_back_redemption, roll_back_redemption_while_locked, void).",
    ["transition"],
)
THROTTLED = Counter(
    "coupons_throttled",
    "Requests refused with 429, by limit: api_rate (API_RATE), user_lookups (FAILED_LOOKUP_LIMIT), "
    "partner_lookups (FAILED_LOOKUP_PARTNER_LIMIT).",
    ["limit"],
)
# A request that matched no URL pattern is counted under this route, and a
# method outside this set under "other", so that scanners sending random paths
# or methods cannot grow the number of series.
UNMATCHED_ROUTE = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def count_transition(name: str, coupons: int = 1) -> None:
    """Count ``coupons`` transitions ``name`` once the transaction commits (at
    once outside one); a rolled-back transaction counts nothing."""
    if coupons:
        transaction.on_commit(lambda: TRANSITIONS.labels(name).inc(coupons))


def count_throttled(limit: str) -> None:
    THROTTLED.labels(limit).inc()


class RequestMetrics:
    """Counts and times every request, by the URL pattern it matched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.route if match is not None else UNMATCHED_ROUTE
        method = request.method if request.method in METHODS else "other"
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        return response


@dataclasses.dataclass(frozen=True)
class DatabaseGauge:
    """A gauge read from the database at each scrape: ``sql`` returns rows of
    the ``labels``' values followed by the value. Keep the query cheap (an
    index, a small table): it runs on every scrape, within
    ``METRICS_QUERY_TIMEOUT_MS``."""

    name: str
    documentation: str
    sql: str
    labels: tuple[str, ...] = ()


DATABASE_GAUGES: dict[str, DatabaseGauge] = {}


def register_database_gauge(gauge: DatabaseGauge) -> None:
    """Add a gauge to every scrape, from an app's ``ready()`` (registering a
    name again replaces it). The task queue's depth and failed deliveries
    belong here, each read from the queue's own table."""
    DATABASE_GAUGES[gauge.name] = gauge


class DatabaseGauges(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        for gauge in list(DATABASE_GAUGES.values()):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL statement_timeout = {int(settings.METRICS_QUERY_TIMEOUT_MS)}")
                    cursor.execute(gauge.sql)
                    rows = cursor.fetchall()
            except DatabaseError:
                # A missing gauge shows on the dashboard; the other metrics still answer.
                logger.warning("The database gauge %s could not be read", gauge.name, exc_info=True)
                continue
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            for *label_values, value in rows:
                family.add_metric([str(label) for label in label_values], float(value))
            yield family


def metrics(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for Prometheus: 404 unless ``METRICS_TOKEN`` is set, then
    only with ``Authorization: Bearer <METRICS_TOKEN>``."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    supplied = request.headers.get("Authorization", "")
    if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseGauges())
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
        body = generate_latest(workers)
    else:
        body = generate_latest(REGISTRY)
    return HttpResponse(body + generate_latest(database), content_type=CONTENT_TYPE_LATEST)
