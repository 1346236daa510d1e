"""The backend sends BEGIN, savepoints and queued statements with the next
statement; the transactions mean exactly what Django's do."""

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.backends.postgresql import base as postgresql
from psycopg.pq import TransactionStatus

from books.models import Partner
from couponsite.db import database_timeouts, send_with_next

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = "INSERT INTO books_partner (name, is_active, created_at) VALUES (%s, true, now()) RETURNING name"


def server_status() -> TransactionStatus:
    return connection.connection.info.transaction_status


def other_connection_sees(name: str) -> bool:
    with connections["default"].temporary_connection() as cursor:
        cursor.execute("SELECT count(*) FROM books_partner WHERE name = %s", [name])
        return cursor.fetchone()[0] == 1


def transactions_committed() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_begin_waits_for_the_first_statement():
    connection.ensure_connection()
    with transaction.atomic():
        assert server_status() == TransactionStatus.IDLE
        Partner.objects.create(name="first")
        assert server_status() == TransactionStatus.INTRANS
    assert server_status() == TransactionStatus.IDLE
    assert Partner.objects.filter(name="first").exists()


def test_a_queued_statement_goes_out_with_the_commit():
    with transaction.atomic():
        queued = send_with_next(INSERT, ["queued"])
        assert not queued.sent
    assert queued.sent
    assert queued.rows == [("queued",)]
    assert other_connection_sees("queued")


def test_a_queued_statement_goes_out_with_the_next_one_in_order():
    with transaction.atomic():
        queued = send_with_next(INSERT, ["before"])
        names = list(Partner.objects.order_by("id").values_list("name", flat=True))
        assert queued.sent
    assert names == ["before"]


def test_a_rollback_drops_what_is_queued():
    with pytest.raises(RuntimeError), transaction.atomic():
        queued = send_with_next(INSERT, ["dropped"])
        raise RuntimeError
    assert not queued.sent
    assert not Partner.objects.filter(name="dropped").exists()
    assert server_status() == TransactionStatus.IDLE


def test_an_inner_block_rolled_back_drops_its_queue_and_keeps_the_outer_block():
    with transaction.atomic():
        Partner.objects.create(name="outer")
        with pytest.raises(RuntimeError), transaction.atomic():
            send_with_next(INSERT, ["inner"])
            raise RuntimeError
        Partner.objects.create(name="after")
    assert sorted(Partner.objects.values_list("name", flat=True)) == ["after", "outer"]


def test_an_inner_block_that_ran_sql_rolls_back_to_its_savepoint():
    with transaction.atomic():
        Partner.objects.create(name="outer")
        with pytest.raises(RuntimeError), transaction.atomic():
            Partner.objects.create(name="inner")
            raise RuntimeError
    assert list(Partner.objects.values_list("name", flat=True)) == ["outer"]


def test_an_error_in_a_queued_statement_fails_the_block_and_stores_nothing():
    Partner.objects.create(name="taken")
    with pytest.raises(Exception, match="partner_name_unique_ci"), transaction.atomic():
        Partner.objects.create(name="kept only if all succeeds")
        send_with_next(INSERT, ["TAKEN"])
    assert list(Partner.objects.values_list("name", flat=True)) == ["taken"]
    assert server_status() == TransactionStatus.IDLE


def test_a_block_that_runs_nothing_sends_nothing():
    connection.ensure_connection()
    before = transactions_committed()
    for _ in range(5):
        with transaction.atomic(), transaction.atomic():
            pass
    # Only the two counting queries (autocommit) commit in between.
    assert transactions_committed() - before <= 2


def test_a_server_side_cursor_in_a_block_lives_in_its_transaction():
    Partner.objects.bulk_create(Partner(name=f"p{i}") for i in range(5))
    with transaction.atomic():
        names = [p.name for p in Partner.objects.order_by("id").iterator(chunk_size=2)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_cursors WHERE is_holdable")
            holdable = cursor.fetchone()[0]
    assert names == [f"p{i}" for i in range(5)]
    assert holdable == 0


def test_copy_as_the_first_statement_of_a_block():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE staged (name text) ON COMMIT DROP")
        with cursor.copy("COPY staged (name) FROM STDIN") as copy:
            copy.write_row(["copied"])
        cursor.execute("SELECT name FROM staged")
        assert cursor.fetchall() == [("copied",)]


def test_outside_a_block_a_statement_is_sent_at_once():
    sent = send_with_next(INSERT, ["now"])
    assert sent.sent
    assert other_connection_sees("now")


TIMEOUTS_NOW = "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"


def calls_to_the_server(monkeypatch) -> list[str]:
    """Every call the backend's cursors make, in order."""
    calls: list[str] = []
    send = postgresql.Cursor.execute

    def counted(cursor, query, params=None, **kwargs):
        calls.append(str(query))
        return send(cursor, query, params, **kwargs)

    monkeypatch.setattr(postgresql.Cursor, "execute", counted)
    return calls


def timeouts_now() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(TIMEOUTS_NOW)
        return cursor.fetchone()


def test_timeouts_ride_with_the_begin_and_the_statements_and_leave_the_session_as_it_was(monkeypatch):
    server_own = timeouts_now()
    calls = calls_to_the_server(monkeypatch)

    with database_timeouts(statement_seconds=1.5, lock_seconds=0.25):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(TIMEOUTS_NOW)
            in_a_transaction = cursor.fetchone()
        outside_one = timeouts_now()

    assert in_a_transaction == ("1500ms", "250ms")
    assert outside_one == ("1500ms", "250ms")
    assert len(calls) == 2  # one call each: no round trip of their own
    assert all("set_config('statement_timeout', '1500', true)" in call for call in calls)
    assert timeouts_now() == server_own  # nothing stays on the connection (PgBouncer hands it on)


def test_a_transaction_open_before_the_timeouts_takes_them_from_its_next_statement_and_gives_them_back():
    with transaction.atomic():
        server_own = timeouts_now()
        with database_timeouts(statement_seconds=3, lock_seconds=0):
            inside = timeouts_now()
        after = timeouts_now()

    assert inside == ("3s", "0")
    assert after == server_own


def test_a_statement_over_its_time_is_cut():
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        database_timeouts(statement_seconds=0.2, lock_seconds=0),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        Partner.objects.create(name="before the sleep")
        cursor.execute("SELECT pg_sleep(5)")
    assert not Partner.objects.filter(name="before the sleep").exists()


def test_a_block_with_timeouts_that_runs_nothing_sends_nothing():
    connection.ensure_connection()
    before = transactions_committed()
    with database_timeouts(statement_seconds=1, lock_seconds=1):
        for _ in range(5):
            with transaction.atomic(), transaction.atomic():
                pass
    assert transactions_committed() - before <= 2


def server_ended(wrapper) -> None:
    """End the wrapper's session from another connection, and wait for the
    goodbye to reach its socket."""
    import select

    import psycopg

    with psycopg.connect(**wrapper.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [wrapper.connection.info.backend_pid])
    select.select([wrapper.connection.pgconn.socket], [], [], 5)


def test_the_health_check_asks_the_socket_not_the_server(monkeypatch):
    connection.ensure_connection()
    calls = calls_to_the_server(monkeypatch)
    monkeypatch.setattr(connection.connection, "execute", lambda *args, **kwargs: calls.append("connection.execute"))

    assert connection.is_usable()
    assert calls == []


def test_a_connection_the_server_ended_is_replaced_by_the_health_check():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        if cursor.fetchone()[0] != connection.connection.info.backend_pid:
            pytest.skip("a pooler (PgBouncer) in between replaces a server connection that was ended")
    ended = connection.connection.info.backend_pid
    server_ended(connection)

    assert not connection.is_usable()
    connection.health_check_enabled, connection.health_check_done = True, False
    connection.close_if_health_check_failed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != ended
