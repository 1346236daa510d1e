"""The API's doors to a book leave book-level events with the key and the
request (audit L12)."""

from __future__ import annotations

from api.tests.conftest import post
from coupons.models import CouponEvent


def test_api_generation_uploads_and_changes_are_recorded_with_the_key_and_request(tenant):
    book = tenant.book
    responses = [
        post(tenant.client, f"/api/v1/books/{book.pk}/codes/generate", {"count": 4}),
        post(tenant.client, f"/api/v1/books/{book.pk}/codes/upload", {"codes": ["API-1", "API-2"]}),
        tenant.client.post(
            f"/api/v1/books/{book.pk}/codes/upload", {"file": _csv(b"code\nFILE-1\n")}, format="multipart"
        ),
        tenant.client.patch(f"/api/v1/books/{book.pk}", {"is_active": False, "name": "Closed"}, format="json"),
    ]

    assert [response.status_code for response in responses] == [201, 201, 201, 200]
    events = list(CouponEvent.objects.filter(book=book).order_by("id"))
    assert [(e.action, e.data) for e in events] == [
        ("codes_added", {"book_id": book.pk, "count": 4, "method": "generate"}),
        ("codes_added", {"book_id": book.pk, "count": 2, "method": "upload"}),
        ("codes_added", {"book_id": book.pk, "count": 1, "method": "upload"}),
        ("book_updated", {"book_id": book.pk, "changes": {"is_active": False, "name": "Closed"}}),
    ]
    assert {(e.actor_kind, e.actor_id, e.partner_id) for e in events} == {
        ("api_key", tenant.api_key.prefix, tenant.partner.pk)
    }
    assert [e.request_id for e in events] == [response["X-Request-ID"] for response in responses]


def test_a_rejected_upload_records_nothing(tenant):
    response = post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/upload", {"codes": ["OK-1", "bad code"]})

    assert response.status_code == 400
    assert not CouponEvent.objects.filter(book=tenant.book).exists()


def _csv(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("codes.csv", content, content_type="text/csv")
