"""Exports through the API: queued at once, written by the queue's worker,
downloaded whole; another partner's export is not found."""

from __future__ import annotations

import csv
import io

import pytest

from coupons.models import Coupon
from couponsite.tests.queue import run_queued_jobs
from exports.models import Export

from .conftest import assert_problem, make_tenant

QUEUE_TEST = pytest.mark.django_db(transaction=True, databases=["default", "queue"])


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path
    return tmp_path


def start(client, book_id: int, body: dict | None = None):
    return client.post(f"/api/v1/books/{book_id}/exports", body or {}, format="json")


@QUEUE_TEST
def test_an_export_is_queued_then_done_and_downloads_every_coupon_as_stored():
    tenant = make_tenant()
    started = start(tenant.client, tenant.book.pk)
    assert started.status_code == 202, started.content
    assert set(started.json()) == {"id", "status"}
    assert started.json()["status"] == "queued"
    export_id = started.json()["id"]

    not_yet = tenant.client.get(f"/api/v1/exports/{export_id}/download")
    assert_problem(not_yet, 409, "export_not_ready")

    run_queued_jobs()

    status = tenant.client.get(f"/api/v1/exports/{export_id}").json()
    assert status["status"] == "done"
    assert status["rows"] == 5
    assert set(status) == {"id", "status", "rows", "created_at", "finished_at", "download_url"}
    assert status["download_url"].endswith(f"/api/v1/exports/{export_id}/download")

    download = tenant.client.get(f"/api/v1/exports/{export_id}/download", HTTP_ACCEPT="text/csv")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == ["code", "state", "user_id", "assigned_at", "redemption_count"]
    assert [row[0] for row in rows[1:]] == list(
        Coupon.objects.filter(book=tenant.book).order_by("id").values_list("code", flat=True)
    )
    assert {row[1] for row in rows[1:]} == {"available"}


@QUEUE_TEST
def test_a_state_filtered_export_holds_only_that_state():
    tenant = make_tenant()
    export_id = start(tenant.client, tenant.book.pk, {"state": "redeemed"}).json()["id"]
    run_queued_jobs()
    status = tenant.client.get(f"/api/v1/exports/{export_id}").json()
    assert (status["status"], status["rows"]) == ("done", 0)


@QUEUE_TEST
def test_an_unknown_state_is_refused_and_nothing_is_recorded():
    tenant = make_tenant()
    assert_problem(start(tenant.client, tenant.book.pk, {"state": "lost"}), 400, "validation_error")
    assert Export.objects.count() == 0


@QUEUE_TEST
def test_another_partners_book_and_export_are_not_found():
    tenant, other = make_tenant(), make_tenant()
    assert_problem(start(tenant.client, other.book.pk), 404, "not_found")
    export_id = start(other.client, other.book.pk).json()["id"]
    run_queued_jobs()
    assert_problem(tenant.client.get(f"/api/v1/exports/{export_id}"), 404, "not_found")
    assert_problem(tenant.client.get(f"/api/v1/exports/{export_id}/download"), 404, "not_found")


@QUEUE_TEST
def test_a_failed_export_says_so_and_offers_no_file(settings, tmp_path):
    tenant = make_tenant()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the export folder should be")
    settings.EXPORT_DIR = blocked
    export_id = start(tenant.client, tenant.book.pk).json()["id"]
    run_queued_jobs()
    status = tenant.client.get(f"/api/v1/exports/{export_id}").json()
    assert status["status"] == "failed"
    assert status["rows"] is None and status["download_url"] is None
    assert status["error"]
    assert_problem(tenant.client.get(f"/api/v1/exports/{export_id}/download"), 409, "export_not_ready")
