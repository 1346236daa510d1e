"""Atomic fixed-window counters shared by every worker and server.

Redis ``INCRBY`` when ``REDIS_URL`` is set, otherwise one PostgreSQL upsert
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``). Django's cache API is not
used: ``cache.incr`` on the database cache is a read followed by a write, so
two workers can both read 9 and both write 10.

Call these outside a transaction (DRF views run in autocommit): a counter
bumped inside one would stay invisible to other workers until it commits.

Redis must not take the API down with it. Each call waits at most
``REDIS_TIMEOUT_SECONDS`` and is not retried; after a failure this process
leaves Redis alone for ``REDIS_RETRY_AFTER_SECONDS`` (logged once each way),
so that a silent Redis costs one short wait per process, not one per request.
Meanwhile each caller says what it does instead: count in PostgreSQL
(``fall_back_to_database=True``), or get ``CountersUnavailable`` and decide.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from api.models import RateCounter

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}

UPSERT_SQL = f"""
INSERT INTO {RateCounter._meta.db_table} (key, count, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (key) DO UPDATE SET count = {RateCounter._meta.db_table}.count + EXCLUDED.count
RETURNING count
"""  # noqa: S608 - the table name is ours, the values are parameters

# Each one command, and atomic in Redis: the count and its expiry together.
ADD_LUA = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return count
"""
RESERVE_LUA = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return 0 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return 1
"""
# No row back when the counter is at the limit already.
RESERVE_SQL = f"""
INSERT INTO {RateCounter._meta.db_table} (key, count, expires_at) VALUES (%s, 1, %s)
ON CONFLICT (key) DO UPDATE SET count = {RateCounter._meta.db_table}.count + 1
WHERE {RateCounter._meta.db_table}.count < %s
RETURNING count
"""  # noqa: S608 - the table name is ours, the values are parameters

_redis_clients: dict[str, redis.Redis] = {}
_redis_scripts: dict[tuple[int, str], redis.commands.core.Script] = {}
_redis_clients_lock = threading.Lock()

logger = logging.getLogger(__name__)


class CountersUnavailable(Exception):
    """Redis did not answer, or did not a moment ago in this process."""


class RedisOutage:
    """This process's view of whether Redis answers: after a failure, no call
    to it for ``REDIS_RETRY_AFTER_SECONDS``."""

    def __init__(self) -> None:
        self._until = 0.0
        self._lock = threading.Lock()

    def ongoing(self) -> bool:
        return time.monotonic() < self._until

    def begin(self, error: redis.RedisError) -> None:
        with self._lock:
            already = self._until > 0
            self._until = time.monotonic() + settings.REDIS_RETRY_AFTER_SECONDS
        if not already:
            logger.warning(
                "Redis did not answer (%s): request rates are not limited, and failed look-ups are "
                "counted in PostgreSQL, until it does; next try in %s s",
                error,
                settings.REDIS_RETRY_AFTER_SECONDS,
            )

    def end(self) -> None:
        if self._until:
            with self._lock:
                self._until = 0.0
            logger.warning("Redis answers again: request rates and failed look-ups are counted in it")


OUTAGE = RedisOutage()


@dataclasses.dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/min"``, ``"1200/minute"``, ``"5/s"``, ``"100/hour"``."""
        count, _, period = text.partition("/")
        try:
            return cls(limit=int(count), seconds=PERIODS[period.strip().lower()])
        except (KeyError, ValueError) as error:
            raise ImproperlyConfigured(f"A rate is 'N/second|minute|hour', not {text!r}") from error


@dataclasses.dataclass(frozen=True)
class Window:
    key: str
    ends_at: float

    @classmethod
    def current(cls, name: str, seconds: int, *, now: float | None = None) -> Window:
        now = time.time() if now is None else now
        start = int(now // seconds) * seconds
        return cls(key=f"{cls.prefix(name)}{start}", ends_at=start + seconds)

    @staticmethod
    def prefix(name: str) -> str:
        """The start of the key of every window of ``name``."""
        return f"rate:{name}:"

    def seconds_left(self) -> float:
        return max(self.ends_at - time.time(), 0.0)


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    with _redis_clients_lock:
        if url not in _redis_clients:
            _redis_clients[url] = redis.Redis.from_url(
                url,
                socket_timeout=settings.REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS,
                retry=None,  # the next request is the retry
            )
        return _redis_clients[url]


def counter_add(window: Window, amount: int = 1, *, fall_back_to_database: bool) -> int:
    """Add ``amount`` (may be negative) to the window's counter; the new value."""
    if settings.REDIS_URL:
        try:
            return int(_redis_call(ADD_LUA, window, [amount, int(window.ends_at) + 1]))
        except CountersUnavailable:
            if not fall_back_to_database:
                raise
    with connection.cursor() as cursor:
        cursor.execute(UPSERT_SQL, [window.key, amount, _ends(window)])
        return cursor.fetchone()[0]


def counter_reserve(window: Window, *, limit: int) -> bool:
    """Add one to the window's counter if it is under ``limit``; whether it
    was. Counted in PostgreSQL while Redis does not answer."""
    if settings.REDIS_URL:
        try:
            return bool(_redis_call(RESERVE_LUA, window, [limit, int(window.ends_at) + 1]))
        except CountersUnavailable:
            pass
    with connection.cursor() as cursor:
        cursor.execute(RESERVE_SQL, [window.key, _ends(window), limit])
        return cursor.fetchone() is not None


def _redis_call(script: str, window: Window, args: list[int]) -> int:
    if OUTAGE.ongoing():
        raise CountersUnavailable
    try:
        result = _script(script)(keys=[window.key], args=args)
    except redis.RedisError as error:
        OUTAGE.begin(error)
        raise CountersUnavailable from error
    OUTAGE.end()
    return result


def _ends(window: Window) -> datetime:
    return datetime.fromtimestamp(window.ends_at, tz=UTC)


def _script(source: str) -> redis.commands.core.Script:
    """A Lua script of ours, registered once per client (sent by its hash)."""
    client = _redis()
    with _redis_clients_lock:
        return _redis_scripts.setdefault((id(client), source), client.register_script(source))


def counters_delete(*, prefix: str, windows: list[Window]) -> None:
    """Forget counters: in PostgreSQL, every one whose key starts with
    ``prefix`` (in the caller's transaction); in Redis, those of ``windows``
    once the transaction commits (the others have expired there). A Redis that
    does not answer is left to expire them."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {RateCounter._meta.db_table} WHERE starts_with(key, %s)", [prefix])  # noqa: S608
    if settings.REDIS_URL:
        transaction.on_commit(lambda: _redis_delete([window.key for window in windows]))


def _redis_delete(keys: list[str]) -> None:
    if OUTAGE.ongoing():
        return
    try:
        _redis().delete(*keys)
    except redis.RedisError as error:
        OUTAGE.begin(error)
        return
    OUTAGE.end()


def counters_purge_expired() -> int:
    """Delete the database counters of windows that have ended."""
    deleted, _ = RateCounter.objects.filter(expires_at__lt=datetime.now(tz=UTC)).delete()
    return deleted
