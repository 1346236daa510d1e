from __future__ import annotations

from drf_spectacular.utils import OpenApiRequest, extend_schema
from rest_framework import parsers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.batch_serializers import BatchAssignResultSerializer, BatchAssignSerializer
from api.coupon_serializers import CouponSerializer
from api.filters import BookCouponFilter, BookFilter, SelectorFilterBackend, filter_values
from api.idempotency import idempotent
from api.pagination import BookPagination, CouponCursorPagination
from api.parsers import JSONParser
from api.serializers import (
    BookDetailSerializer,
    BookSerializer,
    BookStatsSerializer,
    BookWriteSerializer,
    CodesGenerateSerializer,
    CodesUploadFileSerializer,
    CodesUploadJSONSerializer,
    CreatedSerializer,
    StatsQuerySerializer,
)
from api.views.base import PartnerViewSet
from books.models import Book
from books.selectors import book_get, book_list
from books.services import book_create
from coupons.batch_assignment import coupons_assign_batch
from coupons.generation import codes_generate
from coupons.imports import codes_import, codes_import_csv
from coupons.models import Coupon
from coupons.selectors import book_state_counts, coupon_list_for_book
from coupons.services import book_update_recorded
from couponsite.bounds import CODES_PER_REQUEST_MAX
from couponsite.errors import ErrorCode
from redemptions.selectors import book_stats

TAG = ["books"]
BOOK_REQUEST = {"name": "Spring sale", "description": "10 % off shoes", "max_codes_per_user": 1}


class BookViewSet(PartnerViewSet):
    pagination_class = BookPagination
    queryset = Book.objects.none()  # tells the schema the filterset's model; reads go through selectors
    filter_backends = [SelectorFilterBackend]
    filterset_class = BookFilter

    @extend_schema(
        operation_id="books_list",
        tags=TAG,
        summary="List the partner's books, newest first, by name or active state",
        responses={200: BookSerializer(many=True), **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("A page of books", schema.BOOK)],
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(book_list(partner=self.partner, **filter_values(BookFilter, request)))
        return self.get_paginated_response(BookSerializer(page, many=True).data)

    @extend_schema(
        operation_id="books_create",
        tags=TAG,
        summary="Create a book",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=BookWriteSerializer,
        responses={201: BookSerializer, **schema.problems(*schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example("A book", BOOK_REQUEST, request=True),
            schema.example("Created", schema.BOOK, status=201),
        ],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        book = book_create(partner=self.partner, **self.parsed(BookWriteSerializer))
        return Response(BookSerializer(book).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="books_retrieve",
        tags=TAG,
        summary="A book with its coupons counted by state",
        responses={200: BookDetailSerializer, **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("A book", {**schema.BOOK, "counts": schema.COUNTS})],
    )
    def retrieve(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        book.counts = book_state_counts(book=book)
        return Response(BookDetailSerializer(book).data)

    @extend_schema(
        operation_id="books_update",
        tags=TAG,
        summary="Change some of a book's fields",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=BookWriteSerializer(partial=True),
        responses={200: BookSerializer, **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example("Deactivate", {"is_active": False}, request=True),
            schema.example("Updated", {**schema.BOOK, "is_active": False}),
        ],
    )
    @idempotent
    def partial_update(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        book = book_update_recorded(book=book, actor=self.actor, **self.parsed(BookWriteSerializer, partial=True))
        return Response(BookSerializer(book).data)

    @extend_schema(
        operation_id="books_codes_generate",
        tags=TAG,
        summary="Add random codes to a book",
        description=(
            "`#` in the pattern is one random character of the charset (the book's unless given), anything else "
            "is literal. Refused when the keyspace is under 10,000 x the codes of that shape the partner would "
            "hold in all its books."
        ),
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=CodesGenerateSerializer,
        responses={201: CreatedSerializer, **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example("Ten thousand codes", {"count": 10000, "pattern": "SPRING-####-####"}, request=True),
            schema.example("Created", {"created": 10000}, status=201),
        ],
    )
    @idempotent
    def generate(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        data = self.parsed(CodesGenerateSerializer)
        created = codes_generate(
            book=book,
            count=data["count"],
            pattern=data.get("pattern"),
            charset=data.get("charset"),
            max_count=CODES_PER_REQUEST_MAX,
            actor=self.actor,
        )
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
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request={
            "application/json": CodesUploadJSONSerializer,
            "multipart/form-data": OpenApiRequest(
                CodesUploadFileSerializer, encoding={"file": {"contentType": "text/csv"}}
            ),
        },
        responses={201: CreatedSerializer, **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example("Codes", {"codes": ["WELCOME-0001", "WELCOME-0002"]}, request=True),
            schema.example("Created", {"created": 2}, status=201),
        ],
    )
    @idempotent
    def upload(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        if isinstance(request.data, dict) and "codes" in request.data:
            codes = self.parsed(CodesUploadJSONSerializer)["codes"]
            created = codes_import(book=book, codes=codes, max_count=CODES_PER_REQUEST_MAX, actor=self.actor)
        else:
            upload = self.parsed(CodesUploadFileSerializer)["file"]
            created = codes_import_csv(book=book, stream=upload, max_count=CODES_PER_REQUEST_MAX, actor=self.actor)
        return Response({"created": created}, status=status.HTTP_201_CREATED)


class BookStatsViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="books_stats",
        tags=TAG,
        summary="A book's coupons by state, assignments and redemptions per day, and days left",
        parameters=[StatsQuerySerializer],
        responses={200: BookStatsSerializer, **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("Statistics", schema.STATS)],
    )
    def retrieve(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stats = book_stats(book=book, days=query.validated_data["days"])
        body = {"book_id": book.pk, "counts": stats.counts, "days": stats.days, "days_left": stats.days_left}
        return Response(BookStatsSerializer(body).data)


class BookCouponViewSet(PartnerViewSet):
    queryset = Coupon.objects.none()  # tells the schema the filterset's model; reads go through selectors
    pagination_class = CouponCursorPagination
    filter_backends = [SelectorFilterBackend]
    filterset_class = BookCouponFilter

    @extend_schema(
        operation_id="books_coupons_list",
        tags=TAG,
        summary="The book's coupons in id order, a cursor page at a time",
        responses={200: CouponSerializer(many=True), **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("A page of coupons", schema.COUPON)],
    )
    def list(self, request: Request, book_id: int) -> Response:
        book = book_get(partner=self.partner, book_id=book_id)
        filters = filter_values(BookCouponFilter, request)
        coupons = coupon_list_for_book(book=book, state=filters["state"], user_id=filters["user_id"])
        page = self.paginate_queryset(coupons)
        return self.get_paginated_response(CouponSerializer(page, many=True).data)


class BookAssignViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="books_coupons_assign",
        tags=TAG,
        summary="Give each of up to 1,000 users one coupon of the book, drawn at random",
        description=(
            "Each user is one random assignment with every rule of `POST /coupons/assign`: the answer lists, in "
            "the request's order, the coupon each user got or why not (`assignment_limit_reached`, "
            "`book_exhausted`). A book that is unknown, inactive or outside its window refuses the whole call. "
            "Single assignments of the book wait while a batch runs (tens of milliseconds for 1,000 users)."
        ),
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=BatchAssignSerializer,
        responses={
            201: BatchAssignResultSerializer,
            **schema.problems(ErrorCode.NOT_FOUND, ErrorCode.BOOK_INACTIVE, *schema.IDEMPOTENCY_CODES),
        },
        examples=[
            schema.example("Three users", {"user_ids": ["customer-42", "customer-43", "customer-44"]}, request=True),
            schema.example("Per-user results", schema.BATCH_RESULTS, status=201),
        ],
    )
    @idempotent
    def assign(self, request: Request, book_id: int) -> Response:
        book_get(partner=self.partner, book_id=book_id)  # another partner's book is a 404, whatever the body
        user_ids = self.parsed(BatchAssignSerializer)["user_ids"]
        results = coupons_assign_batch(partner=self.partner, book_id=book_id, user_ids=user_ids, actor=self.actor)
        body = BatchAssignResultSerializer({"results": list(zip(user_ids, results, strict=True))}).data
        return Response(body, status=status.HTTP_201_CREATED)
