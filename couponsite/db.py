"""Statements that ride with the next one (see ``couponsite.postgres``)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from couponsite.postgres.base import Queued


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
