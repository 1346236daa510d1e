import pytest
from django.db import connection

HELD_ADVISORY_LOCKS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory'
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@pytest.fixture(autouse=True, scope="session")
def _no_advisory_lock_left_behind(django_db_setup, django_db_blocker):
    """After the whole suite, no advisory lock of ours may still be held."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(HELD_ADVISORY_LOCKS)
        held = cursor.fetchone()[0]
    assert held == 0, f"{held} advisory locks still held after the suite"
