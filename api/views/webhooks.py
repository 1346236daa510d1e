from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.fields import StrictBooleanField, StrictCharField
from api.idempotency import idempotent
from api.views.base import PartnerViewSet
from coupons.event_types import FEED_TYPE_NAMES
from couponsite.bounds import WEBHOOK_DESCRIPTION_MAX_LENGTH, WEBHOOK_URL_MAX_LENGTH
from couponsite.errors import ErrorCode
from webhooks.models import WebhookEndpoint
from webhooks.selectors import webhook_get, webhook_list
from webhooks.services import webhook_create, webhook_delete, webhook_update

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
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NewWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="Shown once: keep it to verify our signatures (`whsec_` + base64).")


WEBHOOK = {
    "id": "6f1c1d2e-8a4b-4f7e-9c3d-2b1a0f9e8d7c",
    "url": "https://shop.example/hooks/coupons",
    "events": ["coupon.redeemed", "coupon.voided"],
    "description": "Order system",
    "is_active": True,
    "created_at": "2026-03-02T10:00:00Z",
    "updated_at": "2026-03-02T10:00:00Z",
}


def _changes(data: dict) -> dict:
    """The serializer's fields under the service's names."""
    if "events" in data:
        data["event_types"] = data.pop("events")
    return data


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

    def _endpoint(self, webhook_id: uuid.UUID) -> WebhookEndpoint:
        return webhook_get(partner=self.partner, webhook_id=webhook_id)
