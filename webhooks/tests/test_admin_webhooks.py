"""Staff see endpoints, deliveries and failures in the admin; coupon managers
retry a delivery or switch an endpoint off; support only reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from books.tests.admin_helpers import client_for, staff_user
from couponsite.roles import COUPON_MANAGERS, SUPPORT
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_send_test
from webhooks.tests.helpers import endpoint_for, stocked_book

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks"


def failed_delivery() -> WebhookDelivery:
    partner, _ = stocked_book()
    endpoint = endpoint_for(partner, URL)
    delivery = webhook_send_test(endpoint=endpoint)
    now = timezone.now()
    WebhookAttempt.objects.create(
        delivery=delivery,
        endpoint=endpoint,
        attempted_at=now,
        status_code=None,
        error="No answer within 10 s",
        duration_ms=10_000,
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, finished_at=now, attempt_count=1, last_error="No answer within 10 s"
    )
    return WebhookDelivery.objects.get(pk=delivery.pk)


def test_staff_see_failed_deliveries_with_their_attempts_and_never_a_secret():
    delivery = failed_delivery()
    client = client_for(staff_user(role=SUPPORT))

    listed = client.get(reverse("admin:webhooks_webhookdelivery_changelist"), {"status": "failed"})
    page = client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))
    endpoint_page = client.get(reverse("admin:webhooks_webhookendpoint_change", args=[delivery.endpoint_id]))

    assert [d.pk for d in listed.context["cl"].result_list] == [delivery.pk]
    assert b"No answer within 10 s" in page.content
    assert endpoint_page.status_code == 200
    assert delivery.endpoint.secret.encode() not in endpoint_page.content


def test_a_coupon_manager_retries_a_failed_delivery():
    delivery = failed_delivery()
    client = client_for(staff_user(role=COUPON_MANAGERS))

    client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "retry", "_selected_action": [delivery.pk]},
    )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.finished_at) == (DeliveryStatus.PENDING, None)
    assert delivery.give_up_at > timezone.now() + timedelta(hours=23)


def test_support_cannot_retry_or_switch_off():
    delivery = failed_delivery()
    client = client_for(staff_user(role=SUPPORT))

    client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "retry", "_selected_action": [delivery.pk]},
    )
    client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "disable", "_selected_action": [delivery.endpoint_id]},
    )

    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED
    assert WebhookEndpoint.objects.get(pk=delivery.endpoint_id).is_active


def test_a_coupon_manager_switches_an_endpoint_off_and_the_reason_says_who():
    delivery = failed_delivery()
    client = client_for(staff_user(role=COUPON_MANAGERS, username="maria"))

    client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "disable", "_selected_action": [delivery.endpoint_id]},
    )

    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, "Switched off by staff (maria).")
