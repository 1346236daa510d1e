"""An export's file is whole, written in constant memory, and a worker killed
mid-export loses nothing: the job is retried and the export starts over."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
import tracemalloc
from datetime import timedelta

import pytest
from django.db import connections
from procrastinate.contrib.django import app

from books.tests.factories import BookFactory
from coupons.generation import codes_generate
from couponsite.actors import Actor
from couponsite.tasks import jobs_retry_stalled
from couponsite.tests.queue import run_queued_jobs
from exports.models import Export, ExportStatus
from exports.services import export_book_codes_start, export_path, export_run

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])
STAFF = Actor.staff(1)
# CI-sized; the 3,000,000-row run is in docs/operations.md.
LARGE = 200_000
SMALL = 50_000


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path
    return tmp_path


def book_of(count: int):
    book = BookFactory()
    codes_generate(book=book, count=count, actor=Actor.system("test"))
    return book


def lines_in(path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in stream)


def peak_memory_of_export(count: int) -> tuple[Export, int]:
    export = export_book_codes_start(book=book_of(count), actor=STAFF, for_people=True)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        done = export_run(export_id=export.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return done, peak


def test_an_export_holds_every_row_and_its_memory_does_not_grow_with_the_book():
    small, small_peak = peak_memory_of_export(SMALL)
    large, large_peak = peak_memory_of_export(LARGE)

    assert (small.status, small.rows) == (ExportStatus.DONE, SMALL)
    assert (large.status, large.rows) == (ExportStatus.DONE, LARGE)
    assert lines_in(export_path(large)) == LARGE + 1  # the header and every row
    # Four times the rows, the same memory: the rows stream through a cursor.
    assert large_peak < small_peak * 1.5 + 512 * 1024, (small_peak, large_peak)
    assert large_peak < 16 * 2**20, large_peak


def _worker_until_killed() -> None:
    connections.close_all()  # the parent's connections are not ours to use
    with app.replace_connector(app.connector.get_worker_connector()) as worker:
        worker.run_worker(wait=True, install_signal_handlers=False, listen_notify=False, concurrency=1)


def wait_for(condition, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def retry_stalled_jobs() -> int:
    async def retry() -> int:
        with app.replace_connector(app.connector.get_worker_connector()) as worker:
            async with worker.open_async():
                return await jobs_retry_stalled(job_manager=worker.job_manager, seconds_since_heartbeat=0.5)

    return asyncio.run(retry())


def test_a_worker_killed_mid_export_loses_nothing_the_retried_job_writes_the_whole_file():
    export = export_book_codes_start(book=book_of(LARGE), actor=STAFF, for_people=False)
    partial = export_path(export).with_name(export_path(export).name + ".part")
    connections.close_all()
    worker = multiprocessing.get_context("fork").Process(target=_worker_until_killed)
    worker.start()
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size > 100_000, seconds=20)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
    assert worker.exitcode == -signal.SIGKILL
    killed = Export.objects.get(pk=export.pk)
    assert killed.status == ExportStatus.RUNNING
    assert not export_path(export).exists()  # half a file is never offered

    time.sleep(1)  # the dead worker's last heartbeat grows old
    assert retry_stalled_jobs() >= 1  # the export's job (and a periodic one the worker had started, if any)
    run_queued_jobs()

    done = Export.objects.get(pk=export.pk)
    assert (done.status, done.rows, done.attempts) == (ExportStatus.DONE, LARGE, 2)
    assert lines_in(export_path(done)) == LARGE + 1
    assert not partial.exists()


def test_expired_export_files_are_deleted_and_the_record_stays(settings):
    export = export_run(export_id=export_book_codes_start(book=book_of(10), actor=STAFF, for_people=True).pk)
    assert export_path(export).exists()
    settings.EXPORT_TTL_HOURS = 1
    Export.objects.filter(pk=export.pk).update(finished_at=export.finished_at - timedelta(hours=2))

    app.configure_task("exports.tasks.delete_expired_exports").defer(timestamp=0)
    run_queued_jobs()

    expired = Export.objects.get(pk=export.pk)
    assert not export_path(export).exists()
    assert (expired.status, expired.rows, expired.downloadable) == (ExportStatus.DONE, 10, False)
    assert expired.file_deleted_at is not None
