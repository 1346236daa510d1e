"""The audit trail in the admin: read, filtered and exported, never changed."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from coupons.models import CouponEvent
from couponsite.actors import ActorKind
from couponsite.admin_tools import ReadOnlyAdmin
from couponsite.spreadsheet import csv_download

EVENT_CSV_COLUMNS: list[tuple[str, Callable[[CouponEvent], object]]] = [
    ("id", lambda e: e.pk),
    ("created_at", lambda e: e.created_at.isoformat()),
    ("code", lambda e: e.coupon.code if e.coupon else ""),
    ("book_id", lambda e: e.book_id),
    ("action", lambda e: e.action),
    ("from_state", lambda e: e.from_state),
    ("to_state", lambda e: e.to_state),
    ("user_id", lambda e: e.user_id),
    ("actor_kind", lambda e: e.actor_kind),
    ("actor_id", lambda e: e.actor_id),
    ("request_id", lambda e: e.request_id),
    ("redemption_id", lambda e: e.redemption_id),
    ("partner_id", lambda e: e.partner_id),
    ("data", lambda e: json.dumps(e.data, sort_keys=True) if e.data is not None else ""),
]


class ActorKindFilter(admin.SimpleListFilter):
    """The known kinds, without the DISTINCT scan of the whole table that a
    filter on a field without choices would run on every page."""

    title = "actor kind"
    parameter_name = "actor_kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(kind.value, kind.value.replace("_", " ")) for kind in ActorKind]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CouponEvent]) -> QuerySet[CouponEvent]:
        return queryset.filter(actor_kind=self.value()) if self.value() else queryset


@admin.register(CouponEvent)
class CouponEventAdmin(ReadOnlyAdmin):
    # Events are append-only in the database too (a trigger refuses UPDATE and DELETE).
    # Book-level events (codes added or exported, a book changed) have no coupon and no states.
    list_display = [
        "created_at",
        "book",
        "coupon",
        "action",
        "from_state",
        "to_state",
        "user_id",
        "actor_kind",
        "actor_id",
    ]
    list_filter = ["action", ActorKindFilter, "to_state"]
    list_select_related = ["coupon", "book"]
    date_hierarchy = "created_at"
    ordering = ["-id"]  # newest first, straight off the primary key
    search_fields = ["=coupon__code"]
    search_help_text = "Exact code (any case)."
    actions = ["export_csv"]

    @admin.action(description="Export selected events as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[CouponEvent]):
        return csv_download(
            queryset.select_related("coupon").order_by("id"), name="coupon-events", columns=EVENT_CSV_COLUMNS
        )
