"""/api/v1/webhooks/{id}/test, /deliveries and /rotate-secret, with deliveries
sent by the drain the background workers run, to a real local receiver."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from api.tests.conftest import assert_problem, make_tenant, post
from webhooks.delivery import webhook_endpoint_drain
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tests.helpers import fan_out_until
from webhooks.tests.receiver import Reply, receiving

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])


def created(tenant, url: str) -> dict:
    response = post(tenant.client, "/api/v1/webhooks", {"url": url})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_test_event_is_queued_sent_by_the_drain_and_listed_with_its_attempts():
    tenant = make_tenant()
    with receiving(Reply(500), Reply(200)) as receiver:
        webhook = created(tenant, receiver.url())

        queued = post(tenant.client, f"/api/v1/webhooks/{webhook['id']}/test")
        assert receiver.received == []  # never inside the partner's request
        webhook_endpoint_drain(endpoint_id=webhook["id"])
        WebhookDelivery.objects.update(next_attempt_at=WebhookDelivery.objects.get().created_at)
        webhook_endpoint_drain(endpoint_id=webhook["id"])

        assert len(receiver.received) == 2
        payload = Webhook(webhook["secret"]).verify(receiver.received[1].body, receiver.received[1].headers)
    assert queued.status_code == 202
    assert queued.json() == {"message_id": payload["id"], "type": "webhook.test", "status": "pending"}
    page = tenant.client.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").json()
    assert [(a["status_code"], a["error"], a["delivery_status"]) for a in page["results"]] == [
        (200, "", "succeeded"),
        (500, "HTTP 500", "succeeded"),
    ]
    assert {a["message_id"] for a in page["results"]} == {payload["id"]}
    assert tenant.client.get("/api/v1/events").json()["results"] == []


def test_a_delivered_event_is_the_event_the_feed_shows():
    tenant = make_tenant()
    with receiving(Reply(200)) as receiver:
        webhook = created(tenant, receiver.url())
        post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "u1"})
        fan_out_until(WebhookEndpoint.objects.get(), 1)
        webhook_endpoint_drain(endpoint_id=webhook["id"])

        [received] = receiver.received
    [event] = tenant.client.get("/api/v1/events").json()["results"]
    assert Webhook(webhook["secret"]).verify(received.body, received.headers) == event


def test_rotate_secret_shows_the_new_secret_once():
    tenant = make_tenant()
    webhook = created(tenant, "http://127.0.0.1:9/hooks")

    rotated = post(tenant.client, f"/api/v1/webhooks/{webhook['id']}/rotate-secret")

    assert rotated.status_code == 200
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != webhook["secret"]
    assert "secret" not in tenant.client.get(f"/api/v1/webhooks/{webhook['id']}").json()


def test_another_partners_endpoint_cannot_be_tested_read_or_rotated():
    tenant, other = make_tenant(), make_tenant()
    theirs = created(other, "http://127.0.0.1:9/hooks")

    for response in (
        post(tenant.client, f"/api/v1/webhooks/{theirs['id']}/test"),
        tenant.client.get(f"/api/v1/webhooks/{theirs['id']}/deliveries"),
        post(tenant.client, f"/api/v1/webhooks/{theirs['id']}/rotate-secret"),
    ):
        assert_problem(response, 404, "not_found")
    assert not WebhookDelivery.objects.exists()
    assert other.client.get(f"/api/v1/webhooks/{theirs['id']}/deliveries").json()["results"] == []
