"""The events' retention: the daily purge deletes the events older than
EVENT_RETENTION_DAYS, a batch of ids a transaction, keeps those a reader still
needs, and records each run and each partner's last deleted feed event; the
database lets it delete nothing younger than the cutoff it declares."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons import retention
from coupons.models import CouponEvent, EventAction, EventPurge, EventPurgeMark
from coupons.retention import EVENT_KEEPERS, PurgeResult, events_purge, feed_reach
from coupons.tests.factories import BookEventFactory, days_ago

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retention_400_days")]


@pytest.fixture
def retention_400_days(settings):
    settings.EVENT_RETENTION_DAYS = 400


def left(book) -> list[int]:
    return list(CouponEvent.objects.filter(book=book).order_by("id").values_list("id", flat=True))


def test_the_purge_deletes_the_events_older_than_the_retention_and_keeps_the_younger():
    book = BookFactory()
    BookEventFactory(book=book, created_at=days_ago(800))
    BookEventFactory(book=book, created_at=days_ago(401))
    recent = [BookEventFactory(book=book, created_at=days_ago(399)), BookEventFactory(book=book)]
    now = timezone.now()

    result = events_purge(now=now)

    assert (result.deleted, result.kept) == (2, 0)
    assert left(book) == [event.pk for event in recent]
    purge = EventPurge.objects.get()
    assert (purge.before, purge.deleted, purge.kept) == (now - timedelta(days=400), 2, 0)
    assert purge.finished_at is not None
    assert feed_reach().available_since == now - timedelta(days=400)
    assert feed_reach().retention_days == 400


def test_the_retention_setting_decides_what_is_old(settings):
    book = BookFactory()
    BookEventFactory(book=book, created_at=days_ago(450))

    settings.EVENT_RETENTION_DAYS = 500
    assert events_purge(now=timezone.now()).deleted == 0
    settings.EVENT_RETENTION_DAYS = 400
    assert events_purge(now=timezone.now()).deleted == 1
    assert left(book) == []


def test_with_events_kept_forever_the_purge_deletes_and_records_nothing(settings):
    settings.EVENT_RETENTION_DAYS = None
    book = BookFactory()
    BookEventFactory(book=book, created_at=days_ago(5000))

    assert events_purge(now=timezone.now()) == PurgeResult()
    assert len(left(book)) == 1
    assert not EventPurge.objects.exists()
    assert feed_reach().retention_days is None and feed_reach().available_since is None


def test_the_purge_goes_a_batch_of_ids_a_statement_and_stops_at_the_first_batch_with_nothing_old(monkeypatch):
    book = BookFactory()
    for _ in range(5):
        BookEventFactory(book=book, created_at=days_ago(500))
    recent = [BookEventFactory(book=book) for _ in range(5)]
    statements = []
    batch = retention._purge_batch

    def counted(**kwargs):
        statements.append(kwargs["after_id"])
        return batch(**kwargs)

    monkeypatch.setattr(retention, "_purge_batch", counted)

    result = events_purge(now=timezone.now(), batch=2)

    # [old, old] [old, old] [old, new] [new, new]: nothing old, so the last two are never read.
    assert result == PurgeResult(deleted=5, kept=0, batches=4)
    assert len(statements) == 4 and statements[0] == 0
    assert left(book) == [event.pk for event in recent]


def test_an_event_a_reader_needs_is_kept_however_old_and_counted(monkeypatch):
    book = BookFactory()
    needed, unneeded = (BookEventFactory(book=book, created_at=days_ago(500)) for _ in range(2))
    monkeypatch.setitem(EVENT_KEEPERS, "a test reader", f"event.id = {needed.pk}")

    result = events_purge(now=timezone.now(), batch=1)

    assert (result.deleted, result.kept) == (1, 1)
    assert left(book) == [needed.pk]
    assert EventPurge.objects.get().kept == 1
    assert unneeded.pk not in left(book)


def test_each_partner_is_marked_with_its_last_deleted_feed_event():
    book, other_book = BookFactory(), BookFactory()
    mine = [BookEventFactory(book=book, created_at=days_ago(500)) for _ in range(3)]
    BookEventFactory(book=book, created_at=days_ago(500), action=EventAction.BOOK_UPDATED, data={"changes": {}})
    theirs = BookEventFactory(book=other_book, created_at=days_ago(500))
    kept = BookEventFactory(book=book)

    events_purge(now=timezone.now(), batch=2)

    # The events of one test transaction share its transaction id: the feed orders them by id.
    marks = {mark.partner_id: (mark.event_id, mark.through_id) for mark in EventPurgeMark.objects.all()}
    assert marks == {book.partner_id: (mine[-1].pk, mine[-1].pk), other_book.partner_id: (theirs.pk, theirs.pk)}
    assert left(book) == [kept.pk]


def test_a_later_purge_moves_the_mark_on_and_never_back():
    book = BookFactory()
    first = BookEventFactory(book=book, created_at=days_ago(600))
    second = BookEventFactory(book=book, created_at=days_ago(450))

    events_purge(now=timezone.now() - timedelta(days=100))
    assert EventPurgeMark.objects.get().event_id == first.pk
    events_purge(now=timezone.now())
    events_purge(now=timezone.now() - timedelta(days=100))

    assert (EventPurgeMark.objects.get().event_id, EventPurgeMark.objects.get().through_id) == (second.pk, second.pk)
    assert EventPurge.objects.count() == 3


def test_the_command_purges_and_says_how_many(settings):
    book = BookFactory()
    BookEventFactory(book=book, created_at=days_ago(500))
    out = io.StringIO()

    call_command("purge_events", "--batch-size", "10", stdout=out)
    settings.EVENT_RETENTION_DAYS = None
    call_command("purge_events", stdout=out)

    assert out.getvalue().splitlines() == [
        "Deleted 1 events older than 400 days; kept 0 still needed.",
        "EVENT_RETENTION_DAYS is 0: events are kept forever, none deleted.",
    ]
    assert left(book) == []


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_each_batch_commits_on_its_own(monkeypatch):
    book = BookFactory()
    old = [BookEventFactory(book=book, created_at=days_ago(500)).pk for _ in range(4)]
    seen_elsewhere = []
    batch = retention._purge_batch

    def watched(**kwargs):
        found = batch(**kwargs)
        # Another connection sees each batch's deletions as soon as it ends.
        seen_elsewhere.append(CouponEvent.objects.using("queue").filter(pk__in=old).count())
        return found

    monkeypatch.setattr(retention, "_purge_batch", watched)

    events_purge(now=timezone.now(), batch=2)

    assert seen_elsewhere == [2, 0, 0]


@pytest.mark.django_db(transaction=True)
def test_the_database_lets_a_purge_delete_only_what_is_older_than_its_declared_cutoff():
    book = BookFactory()
    older, old, young = (BookEventFactory(book=book, created_at=days_ago(days)) for days in (20, 10, 1))

    def delete(event, *, before=None):
        with transaction.atomic(), connection.cursor() as cursor:
            if before is not None:
                cursor.execute("SELECT set_config('coupons.events_purge_before', %s, true)", [before.isoformat()])
            cursor.execute("DELETE FROM coupons_couponevent WHERE id = %s", [event.pk])

    delete(old, before=days_ago(5))
    with pytest.raises(IntegrityError, match="append-only"):
        delete(young, before=days_ago(5))
    # The leave ended with its transaction.
    with pytest.raises(IntegrityError, match="append-only"):
        delete(older)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('coupons.events_purge_before', %s, true)", [days_ago(5).isoformat()])
        cursor.execute("UPDATE coupons_couponevent SET actor_id = 'x' WHERE id = %s", [older.pk])

    assert left(book) == [older.pk, young.pk]
