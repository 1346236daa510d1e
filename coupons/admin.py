"""Coupons and their events in the admin: searched and read, changed only
through the engine's services (Void, Release lock), never edited as fields.

Built for a table of millions: no full count (EstimatedCountPaginator), no
facet counts, search by exact code or user id on the indexes that serve them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import path
from django.utils import timezone

from books.models import Partner
from coupons import admin_views
from coupons.admin_csv import csv_export_response
from coupons.admin_paging import EstimatedCountPaginator
from coupons.codes import code_problem
from coupons.models import USER_ID_MAX_LENGTH, Coupon, CouponEvent
from coupons.services import coupon_release_lock, coupon_void
from couponsite.actors import Actor, ActorKind
from couponsite.errors import ServiceError
from redemptions.models import Redemption

# One action call writes one transaction per coupon; a larger selection is
# refused rather than left running for minutes inside one request.
MAX_ACTION_COUPONS = 1000
# Failures past this many are summed up in one message.
MAX_FAILURE_MESSAGES = 20


def coupon_search_filter(term: str) -> Q:
    """Coupons whose code is ``term`` in any case, or held by user id ``term``.

    ``code__iexact`` compares ``UPPER(code)``, which the unique index on
    ``(UPPER(code), partner)`` serves. The user index leads with the partner,
    so the partners are named too: PostgreSQL then walks that index once per
    partner instead of scanning the table.
    """
    term = term.strip()
    match = Q(pk__in=[])
    if code_problem(term) is None:
        match |= Q(code__iexact=term)
    if 0 < len(term) <= USER_ID_MAX_LENGTH:
        partner_ids = list(Partner.objects.values_list("id", flat=True))
        match |= Q(partner_id__in=partner_ids, user_id=term)
    return match


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return list(self.fields)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class CouponEventInline(ReadOnlyInline):
    model = CouponEvent
    fields = ["created_at", "action", "from_state", "to_state", "user_id", "actor_kind", "actor_id", "request_id"]
    ordering = ["id"]
    show_change_link = False


class RedemptionInline(ReadOnlyInline):
    model = Redemption
    fields = ["created_at", "user_id", "metadata", "rolled_back_at", "rollback_reason"]


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "book",
        "partner",
        "state_shown",
        "user_id",
        "assigned_at",
        "redemption_count",
        "locked_until",
    ]
    list_filter = ["state", "book", "partner"]
    list_select_related = ["book", "partner"]
    search_fields = ["=code"]  # shows the search box; the search itself is get_search_results
    search_help_text = "Exact code (any case) or exact user id."
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["void", "release_lock"]
    inlines = [CouponEventInline, RedemptionInline]
    fieldsets = [
        (None, {"fields": ["code", "book", "partner", "state", "redemption_count"]}),
        ("Holder", {"fields": ["user_id", "assigned_at"]}),
        ("Lock", {"fields": ["lock_id", "locked_until"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                f"<path:object_id>/{name.replace('_', '-')}/",
                wrap(partial(self._coupon_action, action=name)),
                name=f"coupons_coupon_{name}",
            )
            for name in admin_views.COUPON_ACTIONS
        ] + super().get_urls()

    def _coupon_action(self, request: HttpRequest, object_id: str, *, action: str):
        return admin_views.coupon_action_view(self, request, object_id, action)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        coupon = self.get_object(request, object_id)
        can_change = self.has_change_permission(request)
        extra_context = {
            **(extra_context or {}),
            "coupon_actions": admin_views.actions_for(coupon) if coupon and can_change else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Coupon], search_term: str
    ) -> tuple[QuerySet[Coupon], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(coupon_search_filter(search_term)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Coupons come from Generate codes and Upload CSV on the book's page.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Coupon | None = None) -> bool:
        # Change permission opens the actions; a coupon's own page is always
        # read-only, since its fields change only through the services.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Coupon | None = None) -> bool:
        return False

    @admin.display(description="state", ordering="state")
    def state_shown(self, coupon: Coupon) -> str:
        if coupon.lock_has_expired(now=timezone.now()):
            return "locked (expired: reads as assigned)"
        return coupon.state

    @admin.action(description="Void selected coupons", permissions=["change"])
    def void(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> None:
        self._run_per_coupon(request, queryset, coupon_void, done="Voided")

    @admin.action(description="Release the lock of selected coupons", permissions=["change"])
    def release_lock(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> None:
        self._run_per_coupon(request, queryset, coupon_release_lock, done="Released the lock of")

    def _run_per_coupon(
        self,
        request: HttpRequest,
        queryset: QuerySet[Coupon],
        service: Callable[..., Coupon],
        *,
        done: str,
    ) -> None:
        coupons = list(queryset.order_by("id")[: MAX_ACTION_COUPONS + 1])
        if len(coupons) > MAX_ACTION_COUPONS:
            self.message_user(
                request,
                f"Nothing done: select at most {MAX_ACTION_COUPONS:,} coupons at a time.",
                messages.ERROR,
            )
            return
        actor = Actor.staff(request.user.pk)
        failures: list[tuple[Coupon, ServiceError]] = []
        for coupon in coupons:
            try:
                service(coupon=coupon, actor=actor)
            except ServiceError as error:
                failures.append((coupon, error))
        succeeded = len(coupons) - len(failures)
        if succeeded:
            self.message_user(request, f"{done} {succeeded} coupon(s).", messages.SUCCESS)
        for coupon, error in failures[:MAX_FAILURE_MESSAGES]:
            self.message_user(request, f"{coupon.code}: {error.detail}", messages.WARNING)
        if len(failures) > MAX_FAILURE_MESSAGES:
            self.message_user(
                request, f"… and {len(failures) - MAX_FAILURE_MESSAGES} more left unchanged.", messages.WARNING
            )


EVENT_CSV_COLUMNS: list[tuple[str, Callable[[CouponEvent], object]]] = [
    ("id", lambda e: e.pk),
    ("created_at", lambda e: e.created_at.isoformat()),
    ("code", lambda e: e.coupon.code),
    ("book_id", lambda e: e.coupon.book_id),
    ("action", lambda e: e.action),
    ("from_state", lambda e: e.from_state),
    ("to_state", lambda e: e.to_state),
    ("user_id", lambda e: e.user_id),
    ("actor_kind", lambda e: e.actor_kind),
    ("actor_id", lambda e: e.actor_id),
    ("request_id", lambda e: e.request_id),
    ("redemption_id", lambda e: e.redemption_id),
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """A history table: read, filtered and exported, never changed here."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(CouponEvent)
class CouponEventAdmin(ReadOnlyAdmin):
    # Events are append-only in the database too (a trigger refuses UPDATE and DELETE).
    list_display = ["created_at", "coupon", "action", "from_state", "to_state", "user_id", "actor_kind", "actor_id"]
    list_filter = ["action", ActorKindFilter, "to_state"]
    list_select_related = ["coupon"]
    date_hierarchy = "created_at"
    ordering = ["-id"]  # newest first, straight off the primary key
    search_fields = ["=coupon__code"]
    search_help_text = "Exact code (any case)."
    actions = ["export_csv"]

    @admin.action(description="Export selected events as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[CouponEvent]):
        return csv_export_response(
            queryset.select_related("coupon").order_by("id"), name="coupon-events", columns=EVENT_CSV_COLUMNS
        )
