from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.authentication import principal
from api.views.base import PartnerViewSet


class PartnerSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ApiKeySummarySerializer(serializers.Serializer):
    prefix = serializers.CharField(help_text="The part of the key before the dot; events name the key by it.")
    name = serializers.CharField()
    created_at = serializers.DateTimeField(source="created")


class MeSerializer(serializers.Serializer):
    partner = PartnerSummarySerializer()
    api_key = ApiKeySummarySerializer()


class MeViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="me_retrieve",
        tags=["me"],
        summary="The partner and the API key this request is made with",
        description="The cheapest authenticated call: use it to check a key.",
        responses={200: MeSerializer, **schema.problems()},
        examples=[schema.example("Me", schema.ME)],
    )
    def retrieve(self, request: Request) -> Response:
        caller = principal(request)
        return Response(MeSerializer({"partner": caller.partner, "api_key": caller.api_key}).data)
