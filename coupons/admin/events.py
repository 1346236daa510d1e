"""The audit trail in the admin: read and filtered, never changed (exported
by the exports app)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from coupons.models import CouponEvent
from couponsite.actors import ActorKind
from couponsite.admin_tools import ReadOnlyAdmin


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
    # Exported by the exports app's action (a background job), for staff allowed to export.
    actions: list[str] = []
