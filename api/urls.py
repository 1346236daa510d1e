"""The partner API under /api/v1/ and its docs. Paths follow the contract
table of DESIGN.md exactly (no trailing slash)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from api.views.books import (
    BookAssignViewSet,
    BookCouponViewSet,
    BookStatsViewSet,
    BookUploadViewSet,
    BookViewSet,
)
from api.views.coupons import (
    CouponCodeViewSet,
    CouponRedemptionViewSet,
    CouponViewSet,
    RedemptionViewSet,
    UserCouponViewSet,
)
from api.views.events import EventViewSet
from api.views.exports import BookExportViewSet, ExportViewSet
from api.views.me import MeViewSet
from api.views.problems import problem_type
from api.views.users import UserEraseViewSet
from api.views.webhooks import WebhookDeliveryViewSet, WebhookViewSet

v1 = [
    path("me", MeViewSet.as_view({"get": "retrieve"}), name="me"),
    path("books", BookViewSet.as_view({"get": "list", "post": "create"}), name="books"),
    path("books/<int:book_id>", BookViewSet.as_view({"get": "retrieve", "patch": "partial_update"}), name="book"),
    path("books/<int:book_id>/codes/generate", BookViewSet.as_view({"post": "generate"}), name="book-generate"),
    path("books/<int:book_id>/codes/upload", BookUploadViewSet.as_view({"post": "upload"}), name="book-upload"),
    path("books/<int:book_id>/coupons", BookCouponViewSet.as_view({"get": "list"}), name="book-coupons"),
    path("books/<int:book_id>/coupons/assign", BookAssignViewSet.as_view({"post": "assign"}), name="book-assign"),
    path("books/<int:book_id>/stats", BookStatsViewSet.as_view({"get": "retrieve"}), name="book-stats"),
    path("books/<int:book_id>/exports", BookExportViewSet.as_view({"post": "create"}), name="book-exports"),
    path("exports/<uuid:export_id>", ExportViewSet.as_view({"get": "retrieve"}), name="export"),
    path("exports/<uuid:export_id>/download", ExportViewSet.as_view({"get": "download"}), name="export-download"),
    # Before coupons/<code>: "assign", "lock"... read as actions, not codes.
    path("coupons/assign", CouponViewSet.as_view({"post": "assign_random"}), name="coupon-assign-random"),
    path("coupons/assign/<str:code>", CouponCodeViewSet.as_view({"post": "assign_code"}), name="coupon-assign-code"),
    path("coupons/lock/<str:code>", CouponCodeViewSet.as_view({"post": "lock"}), name="coupon-lock"),
    path("coupons/unlock/<str:code>", CouponCodeViewSet.as_view({"post": "unlock"}), name="coupon-unlock"),
    path("coupons/redeem/<str:code>", CouponCodeViewSet.as_view({"post": "redeem"}), name="coupon-redeem"),
    path("coupons/unassign/<str:code>", CouponCodeViewSet.as_view({"post": "unassign"}), name="coupon-unassign"),
    path("coupons/<str:code>", CouponViewSet.as_view({"get": "retrieve", "patch": "partial_update"}), name="coupon"),
    path("coupons/<str:code>/history", CouponViewSet.as_view({"get": "history"}), name="coupon-history"),
    path("coupons/<str:code>/redemptions", CouponRedemptionViewSet.as_view({"get": "list"}), name="coupon-redemptions"),
    path("events", EventViewSet.as_view({"get": "feed"}), name="events"),
    path("webhooks", WebhookViewSet.as_view({"get": "list", "post": "create"}), name="webhooks"),
    path(
        "webhooks/<uuid:webhook_id>",
        WebhookViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="webhook",
    ),
    path("webhooks/<uuid:webhook_id>/test", WebhookViewSet.as_view({"post": "send_test"}), name="webhook-test"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries",
        WebhookDeliveryViewSet.as_view({"get": "deliveries"}),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<uuid:webhook_id>/rotate-secret",
        WebhookViewSet.as_view({"post": "rotate_secret"}),
        name="webhook-rotate-secret",
    ),
    path("users/<path:user_id>/coupons", UserCouponViewSet.as_view({"get": "list"}), name="user-coupons"),
    path("users/<path:user_id>/erase", UserEraseViewSet.as_view({"post": "erase"}), name="user-erase"),
    path("redemptions/<uuid:redemption_id>", RedemptionViewSet.as_view({"get": "retrieve"}), name="redemption"),
    path(
        "redemptions/<uuid:redemption_id>/rollback",
        RedemptionViewSet.as_view({"post": "rollback"}),
        name="redemption-rollback",
    ),
]

urlpatterns = [
    path("api/v1/", include((v1, "v1"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from a URL: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"), name="redoc"),
    path("api/problems/<str:code>", problem_type, name="problem-type"),
]
