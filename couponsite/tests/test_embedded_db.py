import psycopg

from couponsite import embedded_db


def test_embedded_postgres_starts_from_nothing_in_an_empty_folder(tmp_path):
    pgdata = tmp_path / "pgdata"
    try:
        config = embedded_db.database_settings(pgdata, name="fresh")

        with psycopg.connect(host=config["HOST"], user=config["USER"], dbname=config["NAME"]) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()[0]
            database = conn.execute("SELECT current_database()").fetchone()[0]
        assert int(version) >= 150000
        assert database == "fresh"
        assert (pgdata / "PG_VERSION").exists()
        # A second process (here: call) finds the running server and the database.
        assert embedded_db.database_settings(pgdata, name="fresh") == config
    finally:
        embedded_db.stop(pgdata)
