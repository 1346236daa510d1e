import os
import subprocess
import sys

import psycopg
from django.conf import settings
from django.db.utils import ConnectionHandler

from couponsite import embedded_db


def test_embedded_postgres_starts_from_nothing_in_an_empty_folder(tmp_path):
    pgdata = tmp_path / "pgdata"
    try:
        host = embedded_db.socket_dir(pgdata)
        embedded_db.ensure_database(host=host, name="fresh")

        with psycopg.connect(host=host, user="postgres", dbname="fresh") as conn:
            version = conn.execute("SHOW server_version_num").fetchone()[0]
            database = conn.execute("SELECT current_database()").fetchone()[0]
        assert int(version) >= 150000
        assert database == "fresh"
        assert (pgdata / "PG_VERSION").exists()
        # A second process (here: call) finds the running server and the database.
        assert embedded_db.socket_dir(pgdata) == host
        embedded_db.ensure_database(host=host, name="fresh")
    finally:
        embedded_db.stop(pgdata)


def test_reading_the_settings_starts_no_server(tmp_path):
    pgdata = tmp_path / "pgdata"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"EMBEDDED_PGDATA": str(pgdata)}
    code = "import django; django.setup(); from django.db import connection; print(connection.settings_dict['ENGINE'])"

    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "couponsite.embedded_postgres"
    assert not pgdata.exists()


def test_the_first_connection_starts_the_server(tmp_path, django_db_blocker):
    pgdata = tmp_path / "pgdata"
    connections = ConnectionHandler({"default": embedded_db.database_settings(pgdata)})
    try:
        with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
            cursor.execute("SELECT current_database()")
            assert cursor.fetchone()[0] == embedded_db.DEFAULT_DATABASE_NAME
        assert (pgdata / "PG_VERSION").exists()
    finally:
        connections.close_all()
        embedded_db.stop(pgdata)
