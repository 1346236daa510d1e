import pytest
from django.db import connection

from books.tests.factories import BookFactory
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor

HELD_ADVISORY_LOCKS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory'
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_setup"}


def uses_database(item: pytest.Item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(DATABASE_FIXTURES & set(item.fixturenames))


@pytest.fixture(autouse=True, scope="session")
def _no_advisory_lock_left_behind(request, django_db_blocker):
    """After the whole suite, no advisory lock of ours may still be held."""
    if not any(uses_database(item) for item in request.session.items):
        yield
        return
    request.getfixturevalue("django_db_setup")
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(HELD_ADVISORY_LOCKS)
        held = cursor.fetchone()[0]
    assert held == 0, f"{held} advisory locks still held after the suite"


# The task queue's tables belong to procrastinate's unmanaged models, which a
# transactional test's flush leaves alone: a job queued in one test would run
# in the next.
QUEUE_TABLES = "procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers"


@pytest.fixture(autouse=True)
def _task_queue_emptied_after_the_test(request, django_db_blocker):
    marker = request.node.get_closest_marker("django_db")
    yield
    if marker is not None and "queue" in (marker.kwargs.get("databases") or ()):
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {QUEUE_TABLES}")


@pytest.fixture
def actor() -> Actor:
    return Actor.api_key("testkey")


@pytest.fixture
def book(db):
    return BookFactory()


@pytest.fixture
def stocked_book(book):
    make_coupons(book, 10)
    return book
