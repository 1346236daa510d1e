"""Helpers for tests that really race against PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection


def race(task: Callable[[int], Any], *, times: int, workers: int | None = None) -> list[Any]:
    """Run ``task(i)`` for i in range(times) on ``workers`` threads released
    together by a barrier, each on its own database connection.

    Returns, in order, each call's result or the exception it raised. Tests
    using it need ``django_db(transaction=True)``: each thread commits.
    """
    workers = workers or times
    barrier = threading.Barrier(workers)
    started = threading.local()

    def run(i: int) -> Any:
        if not getattr(started, "waited", False):
            started.waited = True
            barrier.wait(timeout=60)
        try:
            return task(i)
        except Exception as error:  # noqa: BLE001 - the caller asserts on it
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(times)))
