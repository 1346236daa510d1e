from __future__ import annotations

from uuid import UUID

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.idempotency import idempotent
from api.views.base import PartnerViewSet
from books.selectors import book_get
from coupons.models import CouponState
from couponsite.errors import ErrorCode
from exports.models import Export, ExportStatus
from exports.selectors import export_get, export_get_downloadable
from exports.services import export_book_codes_start, export_path

TAG = ["exports"]


class ExportRequestSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=CouponState.choices,
        required=False,
        help_text="Only coupons in this state, as the API shows it (an expired lock is assigned).",
    )


class ExportQueuedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ExportStatus.choices)


class ExportSerializer(ExportQueuedSerializer):
    rows = serializers.IntegerField(allow_null=True, help_text="Rows in the file (the header not counted), once done.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    download_url = serializers.SerializerMethodField(
        help_text=(
            "Where to download the file: set once done, null again when the file has expired "
            "(EXPORT_TTL_HOURS after it finished, 24 by default)."
        )
    )
    error = serializers.CharField(required=False, help_text="Only on a failed export: why.")

    def get_download_url(self, export: Export) -> str | None:
        if not export.downloadable:
            return None
        path = reverse("v1:export-download", kwargs={"export_id": export.pk})
        return self.context["request"].build_absolute_uri(path)

    def to_representation(self, export: Export) -> dict:
        data = super().to_representation(export)
        if export.status != ExportStatus.FAILED:
            data.pop("error")
        return data


class CSVDownloadRenderer(JSONRenderer):
    """Lets a client ask for ``text/csv``: the file itself is a FileResponse,
    so this only ever renders a problem answer, as JSON."""

    media_type = "text/csv"
    format = "csv"


EXPORT_EXAMPLE = {
    "id": "5b7f6a56-3c1e-4e3b-9a57-6d1d2f1c0a11",
    "status": "done",
    "rows": 10000,
    "created_at": "2026-11-29T10:00:00Z",
    "finished_at": "2026-11-29T10:00:04Z",
    "download_url": "https://coupons.example.com/api/v1/exports/5b7f6a56-3c1e-4e3b-9a57-6d1d2f1c0a11/download",
}


class BookExportViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="books_exports_create",
        tags=TAG,
        summary="Export the book's coupons as CSV, in the background",
        description=(
            "Queues an export and answers at once; poll `GET /exports/{export_id}` until `status` is `done` "
            "(or `failed`), then download it. The file: `code,state,user_id,assigned_at,redemption_count`, "
            "one row per coupon, oldest first, values exactly as stored."
        ),
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=ExportRequestSerializer,
        responses={202: ExportQueuedSerializer, **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example("Redeemed coupons only", {"state": "redeemed"}, request=True),
            schema.example("Queued", {"id": EXPORT_EXAMPLE["id"], "status": "queued"}, status=202),
        ],
    )
    @idempotent
    def create(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        export = export_book_codes_start(
            book=book, actor=self.actor, for_people=False, **self.parsed(ExportRequestSerializer)
        )
        return Response(ExportQueuedSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="exports_retrieve",
        tags=TAG,
        summary="An export's status",
        responses={200: ExportSerializer, **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[
            schema.example("Done", EXPORT_EXAMPLE),
            schema.example(
                "Failed",
                {
                    **EXPORT_EXAMPLE,
                    "status": "failed",
                    "rows": None,
                    "download_url": None,
                    "error": "The export could not be completed; no file was kept. Start a new export.",
                },
            ),
        ],
    )
    def retrieve(self, request: Request, export_id: UUID) -> Response:
        export = export_get(partner=self.partner, export_id=export_id)
        return Response(ExportSerializer(export, context={"request": request}).data)

    @extend_schema(
        operation_id="exports_download",
        tags=TAG,
        summary="Download a finished export (CSV)",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The whole file, header first.",
                examples=[
                    OpenApiExample(
                        "A file",
                        value=(
                            "code,state,user_id,assigned_at,redemption_count\n"
                            "TOUR-7KQ2-XW9M,redeemed,customer-42,2026-11-29T10:00:00+00:00,1\n"
                            "TOUR-X2B4-9QPA,available,,,0\n"
                        ),
                        media_type="text/csv",
                        response_only=True,
                        status_codes=["200"],
                    )
                ],
            ),
            **schema.problems(ErrorCode.NOT_FOUND, ErrorCode.EXPORT_NOT_READY),
        },
    )
    def download(self, request: Request, export_id: UUID) -> FileResponse:
        export = export_get_downloadable(partner=self.partner, export_id=export_id)
        return FileResponse(
            export_path(export).open("rb"),
            as_attachment=True,
            filename=export.download_name,
            content_type="text/csv; charset=utf-8",
        )

    def get_renderers(self):
        if self.action == "download":
            return [JSONRenderer(), CSVDownloadRenderer()]
        return super().get_renderers()
