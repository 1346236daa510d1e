"""Statements that ride with the next one, timeouts that ride with every
transaction (see ``couponsite.postgres``), and which database errors mean
"not answering"."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from couponsite.postgres.base import Queued, Timeouts, prepare_once

__all__ = ["prepare_once", "send_with_next"]  # prepare_once: couponsite.postgres's, for the apps


def send_with_next(sql: str, params: Any = None) -> Queued:
    """Inside an atomic block, queue ``sql`` to go out in front of the block's
    next statement, or with its COMMIT (or savepoint release); outside one,
    send it now. Its rows and rowcount are on the returned object once sent;
    a rollback of the block drops it unsent."""
    statement = Queued(sql=sql, params=params)
    if connection.in_atomic_block:
        connection.queue(statement)
        return statement
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        statement.rows = cursor.fetchall() if cursor.description is not None else None
        statement.rowcount = cursor.rowcount
        statement.sent = True
    return statement


# The database did not answer, rather than refused the request: connection
# refused or dropped, the server shutting down or restarting, a statement or
# lock wait cut by its timeout, a deadlock or serialization failure. The same
# request may succeed when retried.
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


def database_unavailable(error: BaseException) -> bool:
    return isinstance(error, UNAVAILABLE_ERRORS)


@contextlib.contextmanager
def database_timeouts(*, statement_seconds: float, lock_seconds: float) -> Iterator[None]:
    """Within the block, every transaction on this connection, and each
    statement outside one, runs with these ``statement_timeout`` and
    ``lock_timeout`` (0: none); a transaction already open takes them from its
    next statement. They ride with the statements (``couponsite.postgres``):
    no round trip, nothing left on the connection afterwards."""
    previous = connection.timeouts
    connection.use_timeouts(Timeouts.of(statement_seconds=statement_seconds, lock_seconds=lock_seconds))
    try:
        yield
    finally:
        connection.use_timeouts(previous)


def bulk_timeouts() -> contextlib.AbstractContextManager[None]:
    """The timeouts of a bulk load (``BULK_*``), which may outlast a request's
    by far, in place of those of the request or command running it."""
    return database_timeouts(
        statement_seconds=settings.BULK_STATEMENT_TIMEOUT_SECONDS, lock_seconds=settings.BULK_LOCK_TIMEOUT_SECONDS
    )
