"""Running the queue's jobs in a test: a real procrastinate worker, in this
process, against the test database, until no job is left."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections
from procrastinate.contrib.django import app


def run_queued_jobs(*, queues: list[str] | None = None) -> None:
    """Run every job waiting now (and what they queue), then return; with the
    worker's own connector, as ``manage.py procrastinate worker`` runs it."""
    with _connections_closed_after_each_job(), app.replace_connector(app.connector.get_worker_connector()) as worker:
        worker.run_worker(wait=False, install_signal_handlers=False, listen_notify=False, queues=queues)


@contextlib.contextmanager
def _connections_closed_after_each_job() -> Iterator[None]:
    # The jobs run in the worker's threads, each with its own connections; a
    # persistent one would outlive the test and keep the test database open.
    kept = {alias: connections.settings[alias]["CONN_MAX_AGE"] for alias in connections.settings}
    for alias in kept:
        connections.settings[alias]["CONN_MAX_AGE"] = 0
    try:
        yield
    finally:
        for alias, age in kept.items():
            connections.settings[alias]["CONN_MAX_AGE"] = age
