"""Our signatures verify with the Standard Webhooks specification's own
library (``standardwebhooks``), code nobody here wrote."""

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.signing import SECRET_PREFIX, event_body, secret_new, signed_headers

EVENT = {"event_id": 31, "event_type": "coupon.redeemed", "created_at": "2026-03-02T10:00:00Z", "data": {"code": "A"}}


def delivery(*secrets_: str, body: bytes | None = None) -> tuple[bytes, dict[str, str]]:
    body = body if body is not None else event_body(**EVENT)
    return body, signed_headers(secrets_=secrets_, message_id="31", timestamp=int(time.time()), body=body)


def test_a_delivery_verifies_with_the_specifications_library():
    secret = secret_new()
    body, headers = delivery(secret)

    payload = Webhook(secret).verify(body, headers)

    assert payload == {"id": 31, "type": "coupon.redeemed", "created_at": "2026-03-02T10:00:00Z", "data": {"code": "A"}}
    assert headers["webhook-id"] == "31" and headers["webhook-signature"].startswith("v1,")
    assert secret.startswith(SECRET_PREFIX)


def test_during_a_rotation_either_secret_verifies():
    old, new = secret_new(), secret_new()
    body, headers = delivery(old, new)

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) == Webhook(new).verify(body, headers)


def test_a_changed_body_or_another_secret_does_not_verify():
    secret = secret_new()
    body, headers = delivery(secret)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"coupon.redeemed", b"coupon.voided"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_new()).verify(body, headers)
