from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, parsers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema as s
from api.filters import BookCouponFilter, SelectorFilterBackend, filter_values
from api.idempotency import idempotent
from api.pagination import BookPagination, CouponCursorPagination
from api.parsers import JSONParser
from api.serializers import (
    MAX_CODES_PER_REQUEST,
    BookDetailSerializer,
    BookSerializer,
    BookWriteSerializer,
    CodesGenerateSerializer,
    CodesUploadFileSerializer,
    CodesUploadJSONSerializer,
    CouponSerializer,
    CreatedSerializer,
)
from api.views.base import PartnerViewSet
from books.selectors import book_get, book_list
from books.services import book_create, book_update
from coupons.bulk import codes_generate, codes_import, codes_import_csv
from coupons.models import Coupon
from coupons.selectors import book_state_counts, coupon_list_for_book
from couponsite.errors import ErrorCode

C = ErrorCode
TAG = ["books"]
BOOK_REQUEST = {"name": "Spring sale", "max_codes_per_user": 1, "valid_until": "2026-06-01T00:00:00Z"}


class BookViewSet(PartnerViewSet):
    pagination_class = BookPagination

    @extend_schema(
        operation_id="books_list",
        tags=TAG,
        summary="List the partner's books, newest first",
        responses={200: BookSerializer(many=True), **s.problems(C.NOT_FOUND)},
        examples=[s.example("A page of books", s.BOOK)],
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(book_list(partner=self.partner))
        return self.get_paginated_response(BookSerializer(page, many=True).data)

    @extend_schema(
        operation_id="books_create",
        tags=TAG,
        summary="Create a book",
        parameters=[s.IDEMPOTENCY_PARAMETER],
        request=BookWriteSerializer,
        responses={201: BookSerializer, **s.problems(*s.IDEMPOTENCY_CODES)},
        examples=[s.example("A book", BOOK_REQUEST, request=True), s.example("Created", s.BOOK, status=201)],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        book = book_create(partner=self.partner, **self.parsed(BookWriteSerializer))
        return Response(BookSerializer(book).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="books_retrieve",
        tags=TAG,
        summary="A book with its coupons counted by state",
        responses={200: BookDetailSerializer, **s.problems(C.NOT_FOUND)},
        examples=[s.example("A book", {**s.BOOK, "counts": s.COUNTS})],
    )
    def retrieve(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        book.counts = book_state_counts(book=book)
        return Response(BookDetailSerializer(book).data)

    @extend_schema(
        operation_id="books_update",
        tags=TAG,
        summary="Change some of a book's fields",
        request=BookWriteSerializer(partial=True),
        responses={200: BookSerializer, **s.problems(C.NOT_FOUND, C.UNSUPPORTED_MEDIA_TYPE)},
        examples=[
            s.example("Deactivate", {"is_active": False}, request=True),
            s.example("Updated", {**s.BOOK, "is_active": False}),
        ],
    )
    def partial_update(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        book = book_update(book=book, **self.parsed(BookWriteSerializer, partial=True))
        return Response(BookSerializer(book).data)

    @extend_schema(
        operation_id="books_codes_generate",
        tags=TAG,
        summary="Add random codes to a book",
        description=(
            "`#` in the pattern is one random character of `23456789ABCDEFGHJKMNPQRSTUVWXYZ`, anything else is "
            "literal. Refused when the pattern's keyspace is under 10,000 x the codes the book would hold."
        ),
        parameters=[s.IDEMPOTENCY_PARAMETER],
        request=CodesGenerateSerializer,
        responses={201: CreatedSerializer, **s.problems(C.NOT_FOUND, *s.IDEMPOTENCY_CODES)},
        examples=[
            s.example("Ten thousand codes", {"count": 10000, "pattern": "SPRING-####-####"}, request=True),
            s.example("Created", {"created": 10000}, status=201),
        ],
    )
    @idempotent
    def generate(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        data = self.parsed(CodesGenerateSerializer)
        created = codes_generate(book=book, count=data["count"], pattern=data.get("pattern"))
        return Response({"created": created}, status=status.HTTP_201_CREATED)


class BookUploadViewSet(PartnerViewSet):
    parser_classes = [JSONParser, parsers.MultiPartParser]

    @extend_schema(
        operation_id="books_codes_upload",
        tags=TAG,
        summary="Add your own codes to a book, all or nothing",
        description=(
            "A CSV file (multipart field `file`, one code a row, optional header `code`) or a JSON list. Any bad "
            "row (characters, length, duplicate in the upload or of an existing code) refuses the whole upload: "
            "a 400 whose `errors` list the rows (`line`, `value`, `reason`; the first 100)."
        ),
        parameters=[s.IDEMPOTENCY_PARAMETER],
        request={"application/json": CodesUploadJSONSerializer, "multipart/form-data": CodesUploadFileSerializer},
        responses={201: CreatedSerializer, **s.problems(C.NOT_FOUND, *s.IDEMPOTENCY_CODES)},
        examples=[
            s.example("Codes", {"codes": ["WELCOME-0001", "WELCOME-0002"]}, request=True),
            s.example("Created", {"created": 2}, status=201),
        ],
    )
    @idempotent
    def upload(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        if isinstance(request.data, dict) and "codes" in request.data:
            created = codes_import(book=book, codes=self.parsed(CodesUploadJSONSerializer)["codes"])
        else:
            upload = self.parsed(CodesUploadFileSerializer)["file"]
            _check_rows(upload)
            created = codes_import_csv(book=book, stream=upload)
        return Response({"created": created}, status=status.HTTP_201_CREATED)


def _check_rows(upload: UploadedFile) -> None:
    """At most ``MAX_CODES_PER_REQUEST`` lines, a header besides."""
    lines = 0
    for line in upload:
        lines += bool(line.strip())
        if lines > MAX_CODES_PER_REQUEST + 1:
            upload.seek(0)
            detail = f"At most {MAX_CODES_PER_REQUEST} codes a request; split the file."
            raise exceptions.ValidationError({"file": [detail]})
    upload.seek(0)


class BookCouponViewSet(PartnerViewSet):
    queryset = Coupon.objects.none()  # tells the schema the filterset's model; reads go through selectors
    pagination_class = CouponCursorPagination
    filter_backends = [SelectorFilterBackend]
    filterset_class = BookCouponFilter

    @extend_schema(
        operation_id="books_coupons_list",
        tags=TAG,
        summary="The book's coupons in id order, a cursor page at a time",
        responses={200: CouponSerializer(many=True), **s.problems(C.NOT_FOUND)},
        examples=[s.example("A page of coupons", s.COUPON)],
    )
    def list(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        filters = filter_values(BookCouponFilter, request)
        coupons = coupon_list_for_book(book=book, state=filters["state"], user_id=filters["user_id"])
        page = self.paginate_queryset(coupons)
        return self.get_paginated_response(CouponSerializer(page, many=True).data)
