"""Atomic fixed-window counters shared by every worker and server.

Redis ``INCRBY`` when ``REDIS_URL`` is set, otherwise one PostgreSQL upsert
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``). Django's cache API is not
used: ``cache.incr`` on the database cache is a read followed by a write, so
two workers can both read 9 and both write 10.

Call these outside a transaction (DRF views run in autocommit): a counter
bumped inside one would stay invisible to other workers until it commits.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

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
        return cls(key=f"rate:{name}:{start}", ends_at=start + seconds)

    def seconds_left(self) -> float:
        return max(self.ends_at - time.time(), 0.0)


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    with _redis_clients_lock:
        if url not in _redis_clients:
            _redis_clients[url] = redis.Redis.from_url(url)
        return _redis_clients[url]


def counter_add(window: Window, amount: int = 1) -> int:
    """Add ``amount`` (may be negative) to the window's counter; the new value."""
    if settings.REDIS_URL:
        return int(_script(ADD_LUA)(keys=[window.key], args=[amount, int(window.ends_at) + 1]))
    with connection.cursor() as cursor:
        cursor.execute(UPSERT_SQL, [window.key, amount, _ends(window)])
        return cursor.fetchone()[0]


def counter_reserve(window: Window, *, limit: int) -> bool:
    """Add one to the window's counter if it is under ``limit``; whether it was."""
    if settings.REDIS_URL:
        return bool(_script(RESERVE_LUA)(keys=[window.key], args=[limit, int(window.ends_at) + 1]))
    with connection.cursor() as cursor:
        cursor.execute(RESERVE_SQL, [window.key, _ends(window), limit])
        return cursor.fetchone() is not None


def _ends(window: Window) -> datetime:
    return datetime.fromtimestamp(window.ends_at, tz=UTC)


def _script(source: str) -> redis.commands.core.Script:
    """A Lua script of ours, registered once per client (sent by its hash)."""
    client = _redis()
    with _redis_clients_lock:
        return _redis_scripts.setdefault((id(client), source), client.register_script(source))


def counters_purge_expired() -> int:
    """Delete the database counters of windows that have ended."""
    deleted, _ = RateCounter.objects.filter(expires_at__lt=datetime.now(tz=UTC)).delete()
    return deleted
