"""Webhook deliveries on the queue's workers: a periodic job queues one drain
per active endpoint (never one job per event), and each drain sends that
endpoint's due deliveries in order (``webhooks.delivery``)."""

from __future__ import annotations

from django.utils import timezone
from procrastinate.contrib.django import app

from webhooks.delivery import webhook_deliveries_purge, webhook_endpoint_drain, webhook_endpoints_to_drain
from webhooks.services import DRAIN_TASK, webhook_drain_soon


@app.task(name=DRAIN_TASK)
def drain_webhook_endpoint(endpoint_id: str) -> int:
    return webhook_endpoint_drain(endpoint_id=endpoint_id).succeeded


@app.periodic(cron="* * * * *")
@app.task(queueing_lock="queue_webhook_drains")
def queue_webhook_drains(timestamp: int) -> int:
    endpoints = webhook_endpoints_to_drain()
    for endpoint_id in endpoints:
        webhook_drain_soon(endpoint_id=endpoint_id)
    return len(endpoints)


@app.periodic(cron="29 4 * * *")
@app.task(queueing_lock="purge_webhook_deliveries")
def purge_webhook_deliveries(timestamp: int) -> int:
    return webhook_deliveries_purge(now=timezone.now())
