"""/api/v1/webhooks: endpoints a partner manages; the secret is shown once."""

from __future__ import annotations

import time
import uuid

from standardwebhooks.webhooks import Webhook

from api.tests.conftest import assert_problem, post
from webhooks.models import WebhookEndpoint
from webhooks.signing import event_body, signed_headers

LOCAL = "http://127.0.0.1:8001/hooks"  # a local receiver: allowed outside production


def create(tenant, **fields):
    return post(tenant.client, "/api/v1/webhooks", {"url": LOCAL, **fields})


def test_create_shows_the_secret_once_and_reads_never_show_it(tenant):
    created = create(tenant, events=["coupon.voided", "coupon.redeemed"], description="Orders")

    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["events"], body["description"], body["is_active"]) == (
        LOCAL,
        ["coupon.redeemed", "coupon.voided"],
        "Orders",
        True,
    )
    read = tenant.client.get(f"/api/v1/webhooks/{body['id']}").json()
    listed = tenant.client.get("/api/v1/webhooks").json()
    assert "secret" not in read and read == {key: value for key, value in body.items() if key != "secret"}
    assert listed == [read]


def test_the_secret_signs_what_the_partner_verifies(tenant):
    secret = create(tenant).json()["secret"]
    body = event_body(event_id=1, event_type="coupon.voided", created_at="2026-03-02T10:00:00Z", data={})
    headers = signed_headers(secrets_=[secret], message_id="1", timestamp=int(time.time()), body=body)

    assert Webhook(secret).verify(body, headers)["type"] == "coupon.voided"


def test_change_and_delete(tenant):
    webhook_id = create(tenant).json()["id"]

    changed = tenant.client.patch(
        f"/api/v1/webhooks/{webhook_id}", {"events": [], "is_active": False}, format="json"
    ).json()
    deleted = tenant.client.delete(f"/api/v1/webhooks/{webhook_id}")

    assert (changed["events"], changed["is_active"]) == ([], False)
    assert deleted.status_code == 204
    assert_problem(tenant.client.get(f"/api/v1/webhooks/{webhook_id}"), 404, "not_found")


def test_unknown_event_types_and_non_public_urls_are_refused(tenant, settings):
    assert_problem(create(tenant, events=["coupon.exploded"]), 400, "validation_error")
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    for url in (LOCAL, "https://127.0.0.1/hooks", "https://169.254.169.254/latest/meta-data", "https://[::1]/x"):
        body = assert_problem(create(tenant, url=url), 400, "validation_error")
        assert body["errors"][0]["field"] == "url"
    assert not WebhookEndpoint.objects.exists()


def test_another_partners_endpoint_is_not_found(tenant, other):
    theirs = create(other).json()["id"]

    for response in (
        tenant.client.get(f"/api/v1/webhooks/{theirs}"),
        tenant.client.patch(f"/api/v1/webhooks/{theirs}", {"is_active": False}, format="json"),
        tenant.client.delete(f"/api/v1/webhooks/{theirs}"),
        tenant.client.get(f"/api/v1/webhooks/{uuid.uuid4()}"),
    ):
        assert_problem(response, 404, "not_found")
    assert tenant.client.get("/api/v1/webhooks").json() == []
    assert WebhookEndpoint.objects.get(pk=theirs).is_active
