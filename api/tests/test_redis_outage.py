"""Redis down must not take the API down (audit M3): request rates go
unlimited (logged), failed look-ups are counted in PostgreSQL instead, and a
silent Redis costs each process one short wait, not one per request."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from api import counters
from api.tests.conftest import REDIS_URL, assert_problem, post, redis_available

LOOKUP_LIMIT = 10


@pytest.fixture(autouse=True)
def fresh_outage(monkeypatch):
    monkeypatch.setattr(counters, "OUTAGE", counters.RedisOutage())


class SilentRedis:
    """A port that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                accepted, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(accepted)

    def close(self) -> None:
        self.listener.close()
        for accepted in self.connections:
            accepted.close()


@pytest.fixture
def silent_redis() -> Iterator[SilentRedis]:
    server = SilentRedis()
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_with_redis_refusing_connections_requests_are_served_and_lookups_still_limited(tenant, settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.API_RATE = "3/min"

    with caplog.at_level(logging.WARNING, logger="api.counters"):
        answers = [tenant.client.get("/api/v1/me").status_code for _ in range(5)]
        misses = [post(tenant.client, f"/api/v1/coupons/lock/GUESS-{i}", {"user_id": "prober"}) for i in range(11)]

    assert answers == [200] * 5  # the request rate fails open
    for response in misses[:LOOKUP_LIMIT]:
        assert_problem(response, 404, "not_found")
    assert_problem(misses[LOOKUP_LIMIT], 429, "throttled")  # counted in PostgreSQL
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("Redis did not answer")


def test_a_silent_redis_costs_one_short_wait_per_process(tenant, settings, silent_redis):
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_redis.port}/0"
    settings.REDIS_TIMEOUT_SECONDS = 0.2

    started = time.monotonic()
    answers = [tenant.client.get("/api/v1/me").status_code for _ in range(20)]
    elapsed = time.monotonic() - started

    assert answers == [200] * 20
    assert len(silent_redis.connections) == 1  # the others did not try while the outage lasts
    assert elapsed < 2, elapsed  # twenty requests, one 0.2 s wait: far from the 5 s of redis-py's defaults


@pytest.mark.skipif(not redis_available(), reason="no Redis at 127.0.0.1:6379")
def test_redis_is_tried_again_after_the_pause_and_used_when_it_answers(tenant, settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.REDIS_RETRY_AFTER_SECONDS = 0.1
    tenant.client.get("/api/v1/me")
    assert counters.OUTAGE.ongoing()

    time.sleep(0.15)
    settings.REDIS_URL = REDIS_URL
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="api.counters"):
        response = tenant.client.get("/api/v1/me")

    assert response.status_code == 200
    assert not counters.OUTAGE.ongoing()
    assert [record.getMessage() for record in caplog.records] == [
        "Redis answers again: request rates and failed look-ups are counted in it"
    ]
