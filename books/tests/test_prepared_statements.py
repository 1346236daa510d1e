"""Statements registered with ``prepare_once`` are prepared once a connection
and then sent as EXECUTE, in the calls they already ride in; with the
database's PREPARED_STATEMENTS off (behind PgBouncer) nothing is prepared."""

import pytest
from django.db import DataError, ProgrammingError, connection, connections, transaction

from books.models import Partner
from books.tests.test_postgres_backend import calls_to_the_server
from couponsite.db import prepare_once, send_with_next
from couponsite.postgres.base import Preparation

pytestmark = pytest.mark.django_db(transaction=True)

NAMED = prepare_once("SELECT name FROM books_partner WHERE name = %(name)s AND is_active = %(active)s")
TWO_STATEMENTS = prepare_once(
    """
SELECT pg_advisory_xact_lock(%(key)s);
SELECT %(key)s::bigint * 2, '100%%'::text
"""
)
REPEATED = prepare_once(
    """
SELECT pg_advisory_xact_lock_shared(%(first)s);
SELECT pg_advisory_xact_lock_shared(%(second)s);
SELECT %(first)s::bigint + %(second)s::bigint
"""
)
INSERT = prepare_once(
    "INSERT INTO books_partner (name, is_active, created_at) VALUES (%(name)s, true, now()) RETURNING name"
)
DIVIDE = prepare_once("SELECT 10 / %(by)s::int")


def prepared_here() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def run(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while cursor.nextset():
            pass
        return cursor.fetchall()


def test_a_registered_statement_is_prepared_in_its_first_call_and_executed_after(monkeypatch):
    Partner.objects.create(name="Acme")
    calls = calls_to_the_server(monkeypatch)

    first = run(NAMED, {"name": "Acme", "active": True})
    second = run(NAMED, {"name": "Acme", "active": True})

    assert first == second == [("Acme",)]
    assert len(calls) == 2  # the PREPARE rides with the first EXECUTE: no call of its own
    assert calls[0].startswith("PREPARE cbs_") and "EXECUTE cbs_" in calls[0]
    assert calls[1].startswith("EXECUTE cbs_") and "PREPARE" not in calls[1]
    assert set(Preparation.of(NAMED).names) <= prepared_here()


def test_each_statement_of_a_text_is_prepared_and_percent_signs_are_literal():
    with transaction.atomic():
        assert run(TWO_STATEMENTS, {"key": 21}) == [(42, "100%")]
    assert len(Preparation.of(TWO_STATEMENTS).names) == 2
    assert set(Preparation.of(TWO_STATEMENTS).names) <= prepared_here()


def test_a_statement_a_text_repeats_is_prepared_once_and_executed_each_time():
    with transaction.atomic():
        assert run(REPEATED, {"first": 1, "second": 2}) == [(3,)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            assert cursor.fetchone()[0] == 2
    assert len(set(Preparation.of(REPEATED).names)) == 2
    assert set(Preparation.of(REPEATED).names) <= prepared_here()


def test_a_queued_registered_statement_goes_out_with_the_commit():
    with transaction.atomic():
        queued = send_with_next(INSERT, {"name": "queued"})
        assert not queued.sent
    assert queued.rows == [("queued",)]
    assert Partner.objects.filter(name="queued").exists()


def test_a_failed_call_leaves_no_doubt_about_what_is_prepared():
    with pytest.raises(DataError, match="division by zero"), transaction.atomic():
        run(DIVIDE, {"by": 0})  # the PREPARE ran, the EXECUTE failed
    # Prepared already: read back from the server, not prepared twice (an error).
    assert run(DIVIDE, {"by": 5}) == [(2,)]


def test_statements_deallocated_behind_its_back_fail_one_call_only():
    assert run(DIVIDE, {"by": 5}) == [(2,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    with pytest.raises(ProgrammingError, match="does not exist"):
        run(DIVIDE, {"by": 5})
    assert run(DIVIDE, {"by": 2}) == [(5,)]


def test_a_new_connection_prepares_again():
    assert run(NAMED, {"name": "nobody", "active": True}) == []
    connection.close()
    assert run(NAMED, {"name": "nobody", "active": True}) == []
    assert set(Preparation.of(NAMED).names) <= prepared_here()


def test_with_prepared_statements_off_nothing_is_prepared(monkeypatch):
    connection.close()
    monkeypatch.setattr(connections["default"], "prepares_statements", False)
    calls = calls_to_the_server(monkeypatch)
    Partner.objects.create(name="Acme")

    assert run(NAMED, {"name": "Acme", "active": True}) == [("Acme",)]
    with transaction.atomic():
        send_with_next(INSERT, {"name": "queued"})

    assert prepared_here() == set()
    assert not any("PREPARE" in call or "EXECUTE" in call for call in calls)


def test_only_named_parameters_can_be_registered():
    with pytest.raises(ValueError, match="named parameters"):
        prepare_once("SELECT %s")
