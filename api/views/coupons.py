from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.coupon_serializers import CouponNow, CouponSerializer, LockedCouponSerializer, RedeemedCouponSerializer
from api.fields import USER_ID_SCHEMA, path_user_id
from api.filters import SelectorFilterBackend, UserCouponFilter, filter_values
from api.idempotency import idempotent
from api.pagination import CouponCursorPagination, RedemptionCursorPagination
from api.serializers import (
    AssignRandomSerializer,
    CouponEventSerializer,
    CouponMetadataSerializer,
    RedeemSerializer,
    RedemptionDetailSerializer,
    RollbackSerializer,
    UnlockSerializer,
    UserSerializer,
    rendered,
)
from api.throttles import failed_lookups_limited, failed_reads_limited
from api.views.base import PartnerViewSet
from coupons.models import Coupon
from coupons.selectors import coupon_get, coupon_history, coupon_list_for_user
from coupons.services import (
    coupon_assign_code,
    coupon_assign_random,
    coupon_lock,
    coupon_set_metadata,
    coupon_unassign,
    coupon_unlock,
)
from couponsite.errors import ErrorCode
from redemptions.selectors import redemption_get, redemption_list_for_coupon
from redemptions.services import coupon_redeem, redemption_rollback

TAG = ["coupons"]
USER = {"user_id": "customer-42"}
# Answers of the endpoints that look a code up for a user (FailedLookupLimitMixin).
LOOKUP_CODES = (
    ErrorCode.NOT_FOUND,
    ErrorCode.COUPON_NOT_HELD,
    ErrorCode.BOOK_INACTIVE,
    ErrorCode.COUPON_VOID,
    *schema.IDEMPOTENCY_CODES,
)


class CouponViewSet(PartnerViewSet):
    pagination_class = CouponCursorPagination

    @extend_schema(
        operation_id="coupons_assign_random",
        tags=TAG,
        summary="Give a user the book's next coupon, drawn at random",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=AssignRandomSerializer,
        responses={
            201: CouponSerializer,
            **schema.problems(
                ErrorCode.NOT_FOUND,
                ErrorCode.BOOK_INACTIVE,
                ErrorCode.BOOK_EXHAUSTED,
                ErrorCode.ASSIGNMENT_LIMIT_REACHED,
                *schema.IDEMPOTENCY_CODES,
            ),
        },
        examples=[
            schema.example("Assign", {"book_id": 7, **USER}, request=True),
            schema.example("Assigned", schema.COUPON, status=201),
        ],
    )
    @idempotent
    def assign_random(self, request: Request) -> Response:
        data = self.parsed(AssignRandomSerializer)
        coupon = coupon_assign_random(
            partner=self.partner, book_id=data["book_id"], user_id=data["user_id"], actor=self.actor
        )
        return Response(rendered(CouponSerializer, coupon), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="coupons_retrieve",
        tags=TAG,
        summary="A coupon, by code in any case",
        responses={200: CouponSerializer, **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("A coupon", schema.COUPON)],
    )
    @failed_reads_limited
    def retrieve(self, request: Request, code: str) -> Response:
        return Response(rendered(CouponSerializer, coupon_get(partner=self.partner, code=code)))

    @extend_schema(
        operation_id="coupons_update",
        tags=TAG,
        summary="Replace a coupon's metadata",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=CouponMetadataSerializer,
        responses={200: CouponSerializer, **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES)},
        examples=[
            schema.example("Metadata", {"metadata": {"campaign": "spring"}}, request=True),
            schema.example("Updated", {**schema.COUPON, "metadata": {"campaign": "spring"}}),
        ],
    )
    @idempotent
    @failed_reads_limited
    def partial_update(self, request: Request, code: str) -> Response:
        metadata = self.parsed(CouponMetadataSerializer)["metadata"]
        return Response(
            rendered(CouponSerializer, coupon_set_metadata(partner=self.partner, code=code, metadata=metadata))
        )

    @extend_schema(
        operation_id="coupons_history",
        tags=TAG,
        summary="A coupon's events, oldest first, a cursor page at a time",
        description=(
            "Events are kept for a limited time (the events feed's `retention_days`, 400 days unless the "
            "operator says otherwise): older ones are deleted, so a long-lived coupon's history starts with the "
            "oldest event kept, not with its first assignment. The coupon itself (state, holder, use count) and "
            "its redemptions are kept whole."
        ),
        responses={200: CouponEventSerializer(many=True), **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("History", schema.EVENT)],
    )
    @failed_reads_limited
    def history(self, request: Request, code: str) -> Response:
        events = coupon_history(coupon=coupon_get(partner=self.partner, code=code))
        page = self.paginate_queryset(events)
        return self.get_paginated_response(CouponEventSerializer(page, many=True).data)


class CouponCodeViewSet(PartnerViewSet):
    """A user's failed look-ups (`not_found`, `coupon_not_held`) are limited: past `FAILED_LOOKUP_LIMIT`
    (10 a minute by default) they are answered `429 throttled` until the window ends; an assignment of a
    given code is refused at once. The user can still lock, unlock and redeem the coupons it holds."""

    @extend_schema(
        operation_id="coupons_assign_code",
        tags=TAG,
        summary="Give a user this coupon, if it is available",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=UserSerializer,
        responses={
            201: CouponSerializer,
            **schema.problems(
                ErrorCode.NOT_FOUND,
                ErrorCode.BOOK_INACTIVE,
                ErrorCode.COUPON_UNAVAILABLE,
                ErrorCode.ASSIGNMENT_LIMIT_REACHED,
                *LOOKUP_CODES,
            ),
        },
        examples=[schema.example("Assign", USER, request=True), schema.example("Assigned", schema.COUPON, status=201)],
    )
    @idempotent
    @failed_lookups_limited(reserve=True)
    def assign_code(self, request: Request, code: str) -> Response:
        user_id = self.parsed(UserSerializer)["user_id"]
        coupon = coupon_assign_code(partner=self.partner, code=code, user_id=user_id, actor=self.actor)
        return Response(rendered(CouponSerializer, coupon), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="coupons_lock",
        tags=TAG,
        summary="Hold the user's coupon at checkout",
        description="The lock lasts `LOCK_TIMEOUT_SECONDS` (300 by default); keep its `lock_id`.",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=UserSerializer,
        responses={
            200: LockedCouponSerializer,
            **schema.problems(ErrorCode.COUPON_LOCKED, ErrorCode.COUPON_REDEEMED, *LOOKUP_CODES),
        },
        examples=[schema.example("Lock", USER, request=True), schema.example("Locked", schema.LOCKED_COUPON)],
    )
    @idempotent
    @failed_lookups_limited(reserve=False)
    def lock(self, request: Request, code: str) -> Response:
        user_id = self.parsed(UserSerializer)["user_id"]
        coupon = coupon_lock(partner=self.partner, code=code, user_id=user_id, actor=self.actor)
        return Response(rendered(LockedCouponSerializer, coupon))

    @extend_schema(
        operation_id="coupons_unlock",
        tags=TAG,
        summary="Release a lock (checkout abandoned)",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=UnlockSerializer,
        responses={
            200: CouponSerializer,
            **schema.problems(ErrorCode.COUPON_LOCKED, ErrorCode.COUPON_NOT_LOCKED, *LOOKUP_CODES),
        },
        examples=[
            schema.example("Unlock", {**USER, "lock_id": schema.LOCKED_COUPON["lock_id"]}, request=True),
            schema.example("Unlocked", schema.COUPON),
        ],
    )
    @idempotent
    @failed_lookups_limited(reserve=False)
    def unlock(self, request: Request, code: str) -> Response:
        data = self.parsed(UnlockSerializer)
        coupon = coupon_unlock(partner=self.partner, code=code, actor=self.actor, **data)
        return Response(rendered(CouponSerializer, coupon))

    @extend_schema(
        operation_id="coupons_unassign",
        tags=TAG,
        summary="Give the user's coupon back to the pool, unused",
        description=(
            "An assigned coupon with no use taken becomes `available`, as likely to be drawn next as any other "
            "available coupon. A locked coupon is `coupon_locked` (unlock it first); one with a use taken, "
            "`coupon_in_use`. Allowed in an inactive book too: giving back is never harmful."
        ),
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=UserSerializer,
        responses={
            200: CouponSerializer,
            **schema.problems(ErrorCode.COUPON_LOCKED, ErrorCode.COUPON_IN_USE, *LOOKUP_CODES),
        },
        examples=[schema.example("Unassign", USER, request=True), schema.example("Returned", schema.RETURNED_COUPON)],
    )
    @idempotent
    @failed_lookups_limited(reserve=False)
    def unassign(self, request: Request, code: str) -> Response:
        user_id = self.parsed(UserSerializer)["user_id"]
        coupon = coupon_unassign(partner=self.partner, code=code, user_id=user_id, actor=self.actor)
        return Response(rendered(CouponSerializer, coupon))

    @extend_schema(
        operation_id="coupons_redeem",
        tags=TAG,
        summary="Use the coupon once",
        description="A locked coupon needs its `lock_id`; an assigned one is locked and redeemed in one step.",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=RedeemSerializer,
        responses={
            200: RedeemedCouponSerializer,
            **schema.problems(ErrorCode.COUPON_LOCKED, ErrorCode.COUPON_REDEEMED, *LOOKUP_CODES),
        },
        examples=[
            schema.example(
                "Redeem",
                {**USER, "lock_id": schema.LOCKED_COUPON["lock_id"], "metadata": {"order_id": "A-1001"}},
                request=True,
            ),
            schema.example("Redeemed", schema.REDEEMED_COUPON),
        ],
    )
    @idempotent
    @failed_lookups_limited(reserve=False)
    def redeem(self, request: Request, code: str) -> Response:
        data = self.parsed(RedeemSerializer)
        coupon, redemption = coupon_redeem(partner=self.partner, code=code, actor=self.actor, **data)
        coupon_now = CouponNow.of(coupon, now=timezone.now(), redemption=redemption)
        return Response(rendered(RedeemedCouponSerializer, coupon_now))


class UserCouponViewSet(PartnerViewSet):
    queryset = Coupon.objects.none()  # tells the schema the filterset's model; reads go through selectors
    pagination_class = CouponCursorPagination
    filter_backends = [SelectorFilterBackend]
    filterset_class = UserCouponFilter

    @extend_schema(
        operation_id="users_coupons_list",
        tags=TAG,
        summary="A user's coupons in id order, a cursor page at a time",
        parameters=[
            OpenApiParameter("user_id", USER_ID_SCHEMA, OpenApiParameter.PATH, description="1 to 128 characters.")
        ],
        responses={200: CouponSerializer(many=True), **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("A page of coupons", schema.COUPON)],
    )
    def list(self, request: Request, user_id: str) -> Response:
        user_id = path_user_id(user_id)
        filters = filter_values(UserCouponFilter, request)
        coupons = coupon_list_for_user(partner=self.partner, user_id=user_id, **filters)
        page = self.paginate_queryset(coupons)
        return self.get_paginated_response(CouponSerializer(page, many=True).data)


class CouponRedemptionViewSet(PartnerViewSet):
    pagination_class = RedemptionCursorPagination

    @extend_schema(
        operation_id="coupons_redemptions",
        tags=TAG,
        summary="A coupon's redemptions, oldest first, rolled back ones included",
        responses={200: RedemptionDetailSerializer(many=True), **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("Redemptions", schema.REDEMPTION)],
    )
    @failed_reads_limited
    def list(self, request: Request, code: str) -> Response:
        page = self.paginate_queryset(redemption_list_for_coupon(coupon=coupon_get(partner=self.partner, code=code)))
        return self.get_paginated_response(RedemptionDetailSerializer(page, many=True).data)


class RedemptionViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="redemptions_retrieve",
        tags=["redemptions"],
        summary="A redemption, with its rollback if it was rolled back",
        responses={200: RedemptionDetailSerializer, **schema.problems(ErrorCode.NOT_FOUND)},
        examples=[schema.example("A redemption", schema.REDEMPTION)],
    )
    def retrieve(self, request: Request, redemption_id: str) -> Response:
        redemption = redemption_get(partner=self.partner, redemption_id=redemption_id)
        return Response(RedemptionDetailSerializer(redemption).data)

    @extend_schema(
        operation_id="redemptions_rollback",
        tags=["redemptions"],
        summary="Undo one redemption, once: the use is given back",
        parameters=[schema.IDEMPOTENCY_PARAMETER],
        request=RollbackSerializer,
        responses={
            200: CouponSerializer,
            **schema.problems(
                ErrorCode.NOT_FOUND, ErrorCode.REDEMPTION_ROLLED_BACK, ErrorCode.COUPON_VOID, *schema.IDEMPOTENCY_CODES
            ),
        },
        examples=[
            schema.example("Rollback", {"reason": "order A-1001 cancelled"}, request=True),
            schema.example("Rolled back", schema.COUPON),
        ],
    )
    @idempotent
    def rollback(self, request: Request, redemption_id: str) -> Response:
        reason = self.parsed(RollbackSerializer)["reason"]
        coupon = redemption_rollback(partner=self.partner, redemption_id=redemption_id, reason=reason, actor=self.actor)
        return Response(rendered(CouponSerializer, coupon))
