from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.fields import StrictBooleanField, StrictCharField
from api.idempotency import idempotent
from api.pagination import NewestFirstCursorPagination
from api.views.base import PartnerViewSet
from coupons.event_types import FEED_TYPE_NAMES
from couponsite.bounds import WEBHOOK_DESCRIPTION_MAX_LENGTH, WEBHOOK_URL_MAX_LENGTH
from couponsite.errors import ErrorCode
from webhooks.models import DeliveryStatus, WebhookEndpoint
from webhooks.selectors import webhook_attempts, webhook_get, webhook_list
from webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_rotate_secret,
    webhook_send_test,
    webhook_update,
)

TAG = ["webhooks"]


class WebhookWriteSerializer(serializers.Serializer):
    url = StrictCharField(
        max_length=WEBHOOK_URL_MAX_LENGTH, help_text="https:// and a host with public addresses only."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=FEED_TYPE_NAMES),
        required=False,
        default=list,
        help_text="The event types to send; empty: all of them.",
    )
    description = StrictCharField(max_length=WEBHOOK_DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False)
    is_active = StrictBooleanField(required=False, help_text="Off: nothing is sent to it.")


class WebhookSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField(), source="event_types")
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    disabled_reason = serializers.CharField(
        help_text="Why we switched it off (every delivery failing for 5 days), or why staff did; empty otherwise."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NewWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="Shown once: keep it to verify our signatures (`whsec_` + base64).")


class TestDeliverySerializer(serializers.Serializer):
    message_id = serializers.CharField(help_text="The `webhook-id` (and the body's `id`) the test will carry.")
    type = serializers.CharField(source="event_type")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)


class AttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    message_id = serializers.CharField(source="delivery.message_id", help_text="The `webhook-id` sent.")
    type = serializers.CharField(source="delivery.event_type")
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True, help_text="Your answer's status; null: no answer.")
    error = serializers.CharField(help_text="Why it did not succeed (a timeout, a refused address, `HTTP 500`).")
    duration_ms = serializers.IntegerField()
    delivery_status = serializers.ChoiceField(
        source="delivery.status",
        choices=DeliveryStatus.choices,
        help_text="`pending` (to be retried), `succeeded`, or `failed` (24 hours of retries ran out).",
    )


WEBHOOK = {
    "id": "6f1c1d2e-8a4b-4f7e-9c3d-2b1a0f9e8d7c",
    "url": "https://shop.example/hooks/coupons",
    "events": ["coupon.redeemed", "coupon.voided"],
    "description": "Order system",
    "is_active": True,
    "disabled_reason": "",
    "created_at": "2026-03-02T10:00:00Z",
    "updated_at": "2026-03-02T10:00:00Z",
}


def _changes(data: dict) -> dict:
    """The serializer's fields under the service's names."""
    if "events" in data:
        data["event_types"] = data.pop("events")
    return data


ATTEMPT = {
    "id": 812,
    "message_id": "4711",
    "type": "coupon.redeemed",
    "attempted_at": "2026-03-02T10:00:01Z",
    "status_code": 503,
    "error": "HTTP 503",
    "duration_ms": 87,
    "delivery_status": "pending",
}


class WebhookViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="webhooks_list",
        tags=TAG,
        summary="Your webhook endpoints (at most 20: no pages)",
        responses={200: WebhookSerializer(many=True), **schema.problems()},
        examples=[schema.example("Endpoints", [WEBHOOK])],
    )
    def list(self, request: Request) -> Response:
        return Response(WebhookSerializer(webhook_list(partner=self.partner), many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        tags=TAG,
        summary="Add an endpoint; the answer carries its secret, once",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=WebhookWriteSerializer,
        responses={201: NewWebhookSerializer, **schema.problems(*schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example("Add", {"url": WEBHOOK["url"], "events": WEBHOOK["events"]}, request=True),
            schema.example("Added", {**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, status=201),
        ],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = _changes(self.parsed(WebhookWriteSerializer))
        data.pop("is_active", None)
        endpoint = webhook_create(partner=self.partner, **data)
        return Response(NewWebhookSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="webhooks_retrieve",
        tags=TAG,
        summary="An endpoint (without its secret)",
        responses={200: WebhookSerializer, **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("An endpoint", WEBHOOK)],
    )
    def retrieve(self, request: Request, webhook_id: uuid.UUID) -> Response:
        return Response(WebhookSerializer(self._endpoint(webhook_id)).data)

    @extend_schema(
        operation_id="webhooks_update",
        tags=TAG,
        summary="Change an endpoint's URL, events, description or switch it off",
        request=WebhookWriteSerializer(partial=True),
        responses={200: WebhookSerializer, **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[
            schema.example("Switch off", {"is_active": False}, request=True),
            schema.example("Switched off", {**WEBHOOK, "is_active": False}),
        ],
    )
    def partial_update(self, request: Request, webhook_id: uuid.UUID) -> Response:
        endpoint = self._endpoint(webhook_id)
        changes = _changes(self.parsed(WebhookWriteSerializer, partial=True))
        return Response(WebhookSerializer(webhook_update(endpoint=endpoint, **changes)).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        tags=TAG,
        summary="Delete an endpoint",
        responses={204: None, **schema.problems(ErrorCode.NOT_FOUND)},
    )
    def destroy(self, request: Request, webhook_id: uuid.UUID) -> Response:
        webhook_delete(endpoint=self._endpoint(webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="webhooks_test",
        tags=TAG,
        summary="Send the endpoint a `webhook.test` event (not in the feed), soon, by the background workers",
        request=None,
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        responses={202: TestDeliverySerializer, **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example(
                "Queued", {"message_id": "test_3f2a9c", "type": "webhook.test", "status": "pending"}, status=202
            )
        ],
    )
    @idempotent
    def send_test(self, request: Request, webhook_id: uuid.UUID) -> Response:
        delivery = webhook_send_test(endpoint=self._endpoint(webhook_id))
        return Response(TestDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        tags=TAG,
        summary="A new secret, shown once; the old one also signs for 24 hours",
        request=None,
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        responses={200: NewWebhookSerializer, **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES)},
        examples=[schema.example("Rotated", {**WEBHOOK, "secret": "whsec_2vJqg0c9yM1bqkR1Qw3Zt5e8XhS7pLaN"})],
    )
    @idempotent
    def rotate_secret(self, request: Request, webhook_id: uuid.UUID) -> Response:
        return Response(NewWebhookSerializer(webhook_rotate_secret(endpoint=self._endpoint(webhook_id))).data)

    def _endpoint(self, webhook_id: uuid.UUID) -> WebhookEndpoint:
        return webhook_get(partner=self.partner, webhook_id=webhook_id)


class WebhookDeliveryViewSet(PartnerViewSet):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="webhooks_deliveries",
        tags=TAG,
        summary="The endpoint's delivery attempts, newest first, a cursor page at a time",
        responses={200: AttemptSerializer(many=True), **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("Attempts", [ATTEMPT])],
    )
    def deliveries(self, request: Request, webhook_id: uuid.UUID) -> Response:
        endpoint = webhook_get(partner=self.partner, webhook_id=webhook_id)
        page = self.paginate_queryset(webhook_attempts(endpoint=endpoint))
        return self.get_paginated_response(AttemptSerializer(page, many=True).data)
