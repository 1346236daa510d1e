"""Events carry the server's own request id, never the client's."""

from api.tests.conftest import post
from coupons.models import CouponEvent


def test_two_requests_sending_the_same_id_get_ids_of_their_own(tenant):
    body = {"book_id": tenant.book.pk}
    first = post(tenant.client, "/api/v1/coupons/assign", {**body, "user_id": "a"}, HTTP_X_REQUEST_ID="same")
    second = post(tenant.client, "/api/v1/coupons/assign", {**body, "user_id": "b"}, HTTP_X_REQUEST_ID="same")

    ids = {first["X-Request-ID"], second["X-Request-ID"]}
    assert len(ids) == 2
    assert "same" not in ids
    assert set(CouponEvent.objects.values_list("request_id", flat=True)) == ids
