"""Django's PostgreSQL backend, sending a transaction's control statements with
its other statements instead of in round trips of their own.

Django's ``atomic()`` costs a round trip for ``BEGIN`` and one for ``COMMIT``
(and one each for a savepoint and its release), besides the statements: on
the hot path, half the calls. Here they wait, in order, and go out in front
of the next statement, in the same call:

- ``BEGIN`` and ``SAVEPOINT``: a block that runs nothing sends nothing.
- a statement queued with ``queue()`` (``couponsite.db.send_with_next``): it
  goes out with the next statement, or with the ``COMMIT`` or ``RELEASE
  SAVEPOINT`` that ends its block; a rollback drops it.

Timeouts (``use_timeouts``, set by ``couponsite.db.database_timeouts``) are
set the same way: inside each transaction, with ``set_config(..., true)``
sent with its ``BEGIN``, and outside one with each statement, which then runs
in the implicit transaction of a call of several statements. Not as
connection options (PgBouncer in transaction mode refuses them) nor as
session ``SET`` (it would outlive the request on a pooled server connection),
and never in a round trip of their own.

Statements registered with ``prepare_once`` (the hot path's, written once in
the apps) are prepared on each connection the first time they run, the
``PREPARE`` in front of them in the same call, and from then on sent as
``EXECUTE``: the server parses and plans them once a connection, not once a
call (on this machine that halved PostgreSQL's CPU for a transition and its
event). Prepared statements live in the server's session, which a
transaction-pooling PgBouncer does not keep: the database's
``PREPARED_STATEMENTS`` setting turns them off there. After a call that
carried a ``PREPARE`` fails, the connection's prepared statements are read
back from ``pg_prepared_statements`` before the next one (so a
``DEALLOCATE`` behind the backend's back fails one call, not all after it).

The health check (``CONN_HEALTH_CHECKS``) asks the connection's socket
first: a server that restarted or ended the session has sent its goodbye
and closed the socket, which then reads as ready with nobody having asked;
only then does Django's ``SELECT 1`` go out. A healthy connection is checked
without a round trip.

Everything else is Django's: the blocks, their nesting, their errors (an
error of a queued statement is raised by the call that carried it, inside the
block, which then rolls back). It needs client-side binding (several
statements in one call), Django's default and PgBouncer's need alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import select
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base as postgresql
from psycopg.pq import ConnStatus, ExecStatus, Format


@dataclasses.dataclass
class Queued:
    """A statement waiting to go out with the next one; once it has, what it
    returned."""

    sql: str
    params: Any
    rows: list[tuple] | None = None
    rowcount: int = -1
    sent: bool = False


Waiting = str | Queued  # a control statement (BEGIN, SAVEPOINT s) or a queued one


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """``statement_timeout`` and ``lock_timeout`` for a transaction, as the
    statement that sets them in it."""

    sql: str

    @classmethod
    def of(cls, *, statement_seconds: float, lock_seconds: float) -> Timeouts:
        """0 is no timeout."""
        statement_ms, lock_ms = round(statement_seconds * 1000), round(lock_seconds * 1000)
        return cls(
            f"SELECT set_config('statement_timeout', '{statement_ms:d}', true),"
            f" set_config('lock_timeout', '{lock_ms:d}', true)"
        )


# Back to the server's (role's, database's) own values for the rest of a transaction.
SERVER_TIMEOUTS_SQL = (
    "SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name IN ('statement_timeout', 'lock_timeout')"
)


_PARAMETER = re.compile(r"%\((\w+)\)s")
# Statements of a registered text end a line with ";".
_STATEMENT_END = re.compile(r";[ \t]*\n")


@dataclasses.dataclass(frozen=True)
class Preparation:
    """A registered text as prepared statements: their names, the
    ``PREPARE`` of each, and the ``EXECUTE`` of them all with the text's
    named parameters."""

    names: tuple[str, ...]
    prepares: tuple[str, ...]
    execute: str

    @classmethod
    def of(cls, sql: str) -> Preparation:
        names, prepares, executes = [], [], []
        for statement in filter(None, (part.strip() for part in _STATEMENT_END.split(sql))):
            if "%s" in statement.replace("%%", ""):
                raise ValueError("prepare_once takes named parameters only")
            parameters = list(dict.fromkeys(_PARAMETER.findall(statement)))
            body = statement.replace("%%", "%")
            for number, parameter in enumerate(parameters, start=1):
                body = body.replace(f"%({parameter})s", f"${number}")
            name = "cbs_" + hashlib.sha256(body.encode()).hexdigest()[:20]
            names.append(name)
            prepares.append(f"PREPARE {name} AS {body}")
            arguments = ", ".join(f"%({parameter})s" for parameter in parameters)
            executes.append(f"EXECUTE {name}({arguments})" if parameters else f"EXECUTE {name}")
        return cls(names=tuple(names), prepares=tuple(prepares), execute=";\n".join(executes))


_PREPARATIONS: dict[str, Preparation] = {}


def prepare_once(sql: str) -> str:
    """Register ``sql`` (named parameters only; several statements each end
    a line with ";") to run as prepared statements; returns it unchanged."""
    _PREPARATIONS.setdefault(sql, Preparation.of(sql))
    return sql


class Cursor(postgresql.Cursor):
    """psycopg's client-side binding cursor, sending what its connection has
    waiting in front of each statement, in the same call, and registered
    statements as prepared ones."""

    wrapper: DatabaseWrapper | None = None

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Cursor:
        wrapper = self.wrapper
        if wrapper is None:
            return super().execute(query, params, **kwargs)
        waiting = wrapper.take_waiting()
        if not waiting and wrapper.preparation(query) is None:
            return super().execute(query, params, **kwargs)
        prepares: list[str] = []
        parts = [item if isinstance(item, str) else self._text(item.sql, item.params, prepares) for item in waiting]
        parts.append(self._text(query, params, prepares))
        try:
            super().execute(";\n".join([*prepares, *parts]), **kwargs)
        except Exception:
            # Which PREPARE ran is unknown; or one went missing (a DEALLOCATE
            # or DISCARD behind the backend's back, a pooler in between).
            if wrapper.prepares_statements:
                wrapper.forget_prepared()
            raise
        for _ in prepares:
            self.nextset()
        for item in waiting:
            if isinstance(item, Queued):
                # The result's status, not ``description`` (which builds every column's description).
                item.rows = self.fetchall() if self.pgresult.status == ExecStatus.TUPLES_OK else None
                item.rowcount = self.rowcount
                item.sent = True
            self.nextset()
        return self

    def _text(self, sql: str, params: Any, prepares: list[str]) -> str:
        """``sql`` with ``params`` as it goes out: as ``EXECUTE`` when it is
        registered (its ``PREPARE`` added to ``prepares`` the first time)."""
        preparation = self.wrapper.preparation(sql)
        if preparation is None:
            return self.mogrify(sql, params)
        prepares.extend(self.wrapper.prepares_missing(preparation, self.connection, sending=prepares))
        return self.mogrify(preparation.execute, params)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        self.send_waiting()
        return super().executemany(query, params_seq, **kwargs)

    def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self.send_waiting()
        return super().copy(statement, *args, **kwargs)

    def send_waiting(self) -> None:
        """Send what waits now (a COPY or a call of many statements cannot carry it)."""
        if self.wrapper is not None and self.wrapper.has_waiting():
            self.execute("SELECT 1")


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: list[Waiting] = []
        # Savepoints rolled back before they were sent: Django releases them next.
        self._dropped_savepoints: set[str] = set()
        self.timeouts: Timeouts | None = None
        self.prepares_statements = bool(self.settings_dict.get("PREPARED_STATEMENTS", False))
        # Names prepared on this connection; None: unknown since a call failed.
        self._prepared: set[str] | None = set()

    def get_connection_params(self) -> dict[str, Any]:
        if self.settings_dict["OPTIONS"].get("server_side_binding"):
            raise ImproperlyConfigured("couponsite.postgres sends several statements a call: no server_side_binding")
        params = super().get_connection_params()
        params["cursor_factory"] = Cursor
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        self._prepared = set()
        return connection

    def is_usable(self) -> bool:
        """Whether the connection is open, as its socket tells: with nothing
        sent unasked, with no round trip; with something (the server's
        goodbye, or a notice), by Django's ``SELECT 1``."""
        if self.connection is None or self.connection.closed:
            return False
        pgconn = self.connection.pgconn
        try:
            unasked = select.select([pgconn.socket], [], [], 0)[0]
        except (psycopg.OperationalError, OSError, ValueError):
            return False
        if unasked:
            return super().is_usable()
        return pgconn.status == ConnStatus.OK

    def preparation(self, sql: Any) -> Preparation | None:
        return _PREPARATIONS.get(sql) if self.prepares_statements and isinstance(sql, str) else None

    def prepares_missing(self, preparation: Preparation, connection: Any, *, sending: list[str]) -> list[str]:
        """The ``PREPARE`` statements ``preparation`` still needs on this
        connection, besides those in ``sending``; counted as done (a failed
        call forgets them all)."""
        if self._prepared is None:
            rows = connection.execute("SELECT name FROM pg_prepared_statements").fetchall()
            self._prepared = {name for (name,) in rows}
        # A statement the text repeats (two locks of the same form) is prepared once.
        missing = [
            prepare
            for name, prepare in dict(zip(preparation.names, preparation.prepares, strict=True)).items()
            if name not in self._prepared and prepare not in sending
        ]
        self._prepared.update(preparation.names)
        return missing

    def forget_prepared(self) -> None:
        self._prepared = None

    def has_waiting(self) -> bool:
        return bool(self._waiting)

    def take_waiting(self) -> list[Waiting]:
        waiting, self._waiting = self._waiting, []
        if not waiting and self.autocommit and self.timeouts is not None:
            return [self.timeouts.sql]  # a statement outside a transaction: its own
        return waiting

    def use_timeouts(self, timeouts: Timeouts | None) -> None:
        """Run every transaction from now on, and each statement outside one,
        under ``timeouts`` (None: the server's own). A transaction under way
        takes them from its next statement."""
        self.timeouts = timeouts
        if self.in_atomic_block:
            self._waiting.append(timeouts.sql if timeouts is not None else SERVER_TIMEOUTS_SQL)

    def queue(self, statement: Queued) -> None:
        self._waiting.append(statement)

    # psycopg stays in autocommit: the BEGIN is ours, and waits.

    def _set_autocommit(self, autocommit: bool) -> None:
        if not autocommit:
            self._waiting = ["BEGIN"] if self.timeouts is None else ["BEGIN", self.timeouts.sql]
            return
        self._waiting = []
        with self.wrap_database_errors:
            self.connection.autocommit = True

    def _commit(self) -> None:
        if self.connection is None:
            return
        if any(isinstance(item, Queued) for item in self._waiting):
            self._send("COMMIT")
        elif self._waiting[:1] == ["BEGIN"]:
            self._waiting = []  # nothing ran: nothing to commit
        else:
            self._waiting = []  # settings for statements that never came
            super()._commit()

    def _rollback(self) -> None:
        self._waiting = []
        self._dropped_savepoints.clear()
        super()._rollback()

    def _savepoint(self, sid: str) -> None:
        self._waiting.append(self.ops.savepoint_create_sql(sid))

    def _savepoint_rollback(self, sid: str) -> None:
        savepoint = self.ops.savepoint_create_sql(sid)
        if savepoint in self._waiting:
            # Never sent: drop it and all that came after it.
            del self._waiting[self._waiting.index(savepoint) :]
            self._dropped_savepoints.add(sid)
            return
        self._waiting = []  # all that waits came after the savepoint
        super()._savepoint_rollback(sid)

    def _savepoint_commit(self, sid: str) -> None:
        if sid in self._dropped_savepoints:
            self._dropped_savepoints.discard(sid)
            return
        savepoint = self.ops.savepoint_create_sql(sid)
        if self._waiting and self._waiting[-1] == savepoint:
            self._waiting.pop()  # never sent and nothing in it
            return
        self._send(self.ops.savepoint_commit_sql(sid))

    def _send(self, statement: str) -> None:
        with self.wrap_database_errors, self.connection.cursor() as cursor:
            cursor.wrapper = self
            cursor.execute(statement)

    def create_cursor(self, name: str | None = None) -> Any:
        if name is None:
            cursor = self.connection.cursor()
            cursor.wrapper = self
        else:
            # A server-side cursor's DECLARE cannot carry what waits: send it first.
            if self._waiting:
                self._send("SELECT 1")
            # Held past the transaction only outside one, by Django's flag
            # (psycopg's is always on here).
            cursor = postgresql.ServerSideCursor(
                self.connection, name=name, scrollable=False, withhold=self.get_autocommit()
            )
        tzloader = self.connection.adapters.get_loader(postgresql.TIMESTAMPTZ_OID, Format.TEXT)
        if self.timezone != tzloader.timezone:
            postgresql.register_tzloader(self.timezone, cursor)
        return cursor
