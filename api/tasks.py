"""Periodic housekeeping of the API's tables, run by the queue's workers."""

from __future__ import annotations

from procrastinate.contrib.django import app

from api.counters import counters_purge_expired
from api.idempotency import idempotency_keys_purge


@app.periodic(cron="17 * * * *")
@app.task(queueing_lock="purge_idempotency_keys")
def purge_idempotency_keys(timestamp: int) -> int:
    return idempotency_keys_purge()


@app.periodic(cron="23 * * * *")
@app.task(queueing_lock="purge_rate_counters")
def purge_rate_counters(timestamp: int) -> int:
    return counters_purge_expired()
