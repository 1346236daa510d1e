"""Redemptions in the admin: read-only and filtered (exported by the exports
app); and the redemption parts of the book and coupon pages below
(``extend_admin``).

A rollback is a partner's call through the API (it gives a use back under the
coupon's lock), not an edit here.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from books import charts
from books.models import Book
from coupons.admin import book_codes, coupon_pages
from coupons.models import Coupon
from couponsite.admin_tools import ReadOnlyAdmin, ReadOnlyInline, extend_admin
from redemptions.models import Redemption
from redemptions.selectors import redemptions_per_day


class RolledBackFilter(admin.SimpleListFilter):
    title = "rolled back"
    parameter_name = "rolled_back"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Redemption]) -> QuerySet[Redemption]:
        if self.value() in ("yes", "no"):
            return queryset.filter(rolled_back_at__isnull=self.value() == "no")
        return queryset


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "coupon", "book", "user_id", "rolled_back_at"]
    list_filter = [RolledBackFilter, ("coupon__book", admin.RelatedFieldListFilter)]
    list_select_related = ["coupon__book"]
    date_hierarchy = "created_at"
    search_fields = ["=coupon__code"]  # shows the search box; the search itself is get_search_results
    search_help_text = "Exact code (any case) or exact user id."
    # Exported by the exports app's action (a background job), for staff allowed to export.
    actions: list[str] = []

    @admin.display(description="book", ordering="coupon__book__name")
    def book(self, redemption: Redemption) -> str:
        return redemption.coupon.book.name

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Redemption], search_term: str
    ) -> tuple[QuerySet[Redemption], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(coupon__code__iexact=term) | Q(user_id=term)), False


class RedemptionInline(ReadOnlyInline):
    model = Redemption
    fields = ["created_at", "user_id", "metadata", "rolled_back_at", "rollback_reason"]


class CouponAdmin(coupon_pages.CouponAdmin):
    inlines = [*coupon_pages.CouponAdmin.inlines, RedemptionInline]


class BookAdmin(book_codes.BookAdmin):
    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        book = self.get_object(request, object_id)
        if book is not None:
            series = redemptions_per_day(book=book)
            extra_context = {
                **(extra_context or {}),
                "redemptions_chart": charts.redemptions_chart_svg(series),
                "redemptions_rows": [(day, f"{count:,}") for day, count in series],
            }
        return super().change_view(request, object_id, form_url, extra_context)


extend_admin(Coupon, CouponAdmin)
extend_admin(Book, BookAdmin)
