"""Exports in the back office: started by coupon managers (never support),
written by the queue's worker, recorded and listed with their files; files
for people, with formula-like cells defused."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory
from coupons.models import CouponEvent
from coupons.services import coupon_assign_code
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.roles import COUPON_MANAGERS, SUPPORT
from couponsite.tests.queue import run_queued_jobs
from exports.models import Export, ExportKind, ExportStatus
from redemptions.models import Redemption
from redemptions.services import coupon_redeem

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])
ACTOR = Actor.system("test")
REDEMPTIONS = "admin:redemptions_redemption_changelist"
EVENTS = "admin:coupons_couponevent_changelist"


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path
    return tmp_path


def redeemed(*, user_id: str) -> Redemption:
    book = BookFactory(max_redemptions_per_coupon=None)
    coupon = make_coupons(book, 1, prefix=f"R{book.pk}-")[0]
    coupon_assign_code(partner=book.partner, code=coupon.code, user_id=user_id, actor=ACTOR)
    _, redemption = coupon_redeem(
        partner=book.partner, code=coupon.code, user_id=user_id, metadata={"n": 1}, actor=ACTOR
    )
    return redemption


def downloaded(client, export: Export) -> list[list[str]]:
    response = client.get(reverse("admin:exports_export_download", args=[export.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith(f'attachment; filename="{export.kind}-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_redemption_export_is_a_job_recorded_with_who_what_when_and_a_safe_file():
    redemption = redeemed(user_id="@SUM(1+1)")
    manager = staff_user(role=COUPON_MANAGERS)
    client = client_for(manager)

    started = client.post(reverse(REDEMPTIONS), {"action": "export_csv", "_selected_action": [redemption.pk]})

    assert started.status_code == 302 and started["Location"] == reverse("admin:exports_export_changelist")
    export = Export.objects.get()
    assert (export.kind, export.status, export.actor_kind, export.actor_id) == (
        ExportKind.REDEMPTIONS,
        ExportStatus.QUEUED,
        "staff",
        str(manager.pk),
    )
    assert export.created_at is not None
    run_queued_jobs()
    export = Export.objects.get()
    assert (export.status, export.rows) == (ExportStatus.DONE, 1)
    listing = client.get(reverse("admin:exports_export_changelist")).content.decode()
    assert reverse("admin:exports_export_download", args=[export.pk]) in listing
    header, row = downloaded(client, export)
    assert header[:3] == ["id", "created_at", "code"]
    assert dict(zip(header, row, strict=True))["user_id"] == "'@SUM(1+1)"
    assert dict(zip(header, row, strict=True))["metadata"] == '{"n": 1}'


def test_an_event_export_of_every_matching_row_follows_the_lists_filter():
    redeemed(user_id="alice")
    redeemed(user_id="bob")
    client = client_for(staff_user(role=COUPON_MANAGERS))

    on_the_page = CouponEvent.objects.filter(action="redeem").first()

    started = client.post(  # "Select all N": every row the filter matches, not only the page's
        reverse(EVENTS) + "?action__exact=redeem",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": [on_the_page.pk]},
    )
    assert started["Location"] == reverse("admin:exports_export_changelist")
    run_queued_jobs()

    export = Export.objects.get()
    rows = downloaded(client, export)[1:]
    assert export.rows == 2 == len(rows)
    assert {row[4] for row in rows} == {"redeem"}
    assert CouponEvent.objects.count() == 4  # the assignments were left out


def test_a_book_export_from_the_book_page_holds_its_codes_spreadsheet_safe():
    book = BookFactory()
    make_coupons(book, 3, prefix="-X")
    client = client_for(staff_user(role=COUPON_MANAGERS))
    assert (
        reverse("admin:books_book_export", args=[book.pk])
        in client.get(reverse("admin:books_book_change", args=[book.pk])).content.decode()
    )

    client.post(reverse("admin:books_book_export", args=[book.pk]), {"state": ""})
    run_queued_jobs()

    rows = downloaded(client, Export.objects.get())
    assert rows[0] == ["code", "state", "user_id", "assigned_at", "redemption_count"]
    assert len(rows) == 4 and all(row[0].startswith("'-X") for row in rows[1:])


def test_support_cannot_export_partners_data_in_bulk():
    redemption = redeemed(user_id="alice")
    book = redemption.coupon.book
    client = client_for(staff_user(role=SUPPORT))

    offered = client.get(reverse(REDEMPTIONS)).content.decode() + client.get(reverse(EVENTS)).content.decode()
    forced = client.post(reverse(REDEMPTIONS), {"action": "export_csv", "_selected_action": [redemption.pk]})
    book_page = client.get(reverse("admin:books_book_change", args=[book.pk])).content.decode()
    book_export = client.post(reverse("admin:books_book_export", args=[book.pk]), {"state": ""})
    exports_list = client.get(reverse("admin:exports_export_changelist"))

    assert 'value="export_csv"' not in offered
    assert forced.get("Content-Type", "").startswith("text/html")  # the list again, no file
    assert reverse("admin:books_book_export", args=[book.pk]) not in book_page
    assert book_export.status_code == 403
    assert exports_list.status_code == 403
    assert Export.objects.count() == 0


def test_a_download_needs_the_right_to_see_exports():
    book = BookFactory()
    make_coupons(book, 1)
    client_for(staff_user(role=COUPON_MANAGERS)).post(reverse("admin:books_book_export", args=[book.pk]), {"state": ""})
    run_queued_jobs()
    export = Export.objects.get()

    response = client_for(staff_user(role=SUPPORT)).get(reverse("admin:exports_export_download", args=[export.pk]))

    assert response.status_code == 403


def test_a_book_level_event_exports_with_its_book_and_data_and_no_code():
    book = BookFactory()
    client = client_for(staff_user(role=COUPON_MANAGERS))
    client.post(reverse("admin:books_book_generate", args=[book.pk]), {"count": "5", "pattern": ""})
    event = CouponEvent.objects.get(book_id=book.pk, action="codes_added")

    client.post(reverse(EVENTS), {"action": "export_csv", "_selected_action": [event.pk]})
    run_queued_jobs()

    header, row = downloaded(client, Export.objects.get())
    values = dict(zip(header, row, strict=True))
    assert (values["code"], values["book_id"], values["action"]) == ("", str(book.pk), "codes_added")
    assert json.loads(values["data"]) == {"book_id": book.pk, "count": 5, "method": "generate"}
