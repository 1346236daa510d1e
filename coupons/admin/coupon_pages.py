"""Coupons in the admin: searched and read, changed only through the engine's
services (Void, Release lock), never edited as fields.

Built for a table of millions: no full count (EstimatedCountPaginator), no
facet counts, search by exact code or user id on the indexes that serve them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django_fsm import can_proceed

from books.codes import code_problem
from books.models import Partner
from coupons.models import Coupon, CouponEvent
from coupons.services import coupon_release_lock, coupon_void
from couponsite.actors import Actor
from couponsite.admin_paging import EstimatedCountPaginator
from couponsite.admin_tools import ReadOnlyInline
from couponsite.bounds import USER_ID_MAX_LENGTH
from couponsite.errors import ServiceError

# One action call writes one transaction per coupon; a larger selection is
# refused rather than left running for minutes inside one request.
MAX_ACTION_COUPONS = 1000
# Failures past this many are summed up in one message.
MAX_FAILURE_MESSAGES = 20


@dataclasses.dataclass(frozen=True)
class CouponAction:
    """A service staff run on one coupon from its page, after a confirmation."""

    service: Callable[..., Coupon]
    title: str
    question: str
    done: str
    # The model transition it makes: the page offers the action only where that
    # transition may start, so that the states allowed are the state machine's own.
    transition: str

    def applies_to(self, coupon: Coupon) -> bool:
        return can_proceed(getattr(coupon, self.transition))


COUPON_ACTIONS = {
    "void": CouponAction(
        service=coupon_void,
        title="Void coupon",
        question="Void coupon {code}? It can never be assigned, locked or redeemed again.",
        done="Voided coupon {code}.",
        transition="void",
    ),
    "release_lock": CouponAction(
        service=coupon_release_lock,
        title="Release lock",
        question="Release the lock on coupon {code}? A checkout holding it will have to lock it again.",
        done="Released the lock of coupon {code}.",
        transition="unlock",
    ),
}


def actions_for(coupon: Coupon) -> list[tuple[str, str]]:
    """(name, title) of the page actions that apply to the coupon's state."""
    return [(name, action.title) for name, action in COUPON_ACTIONS.items() if action.applies_to(coupon)]


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


class CouponEventInline(ReadOnlyInline):
    model = CouponEvent
    fields = ["created_at", "action", "from_state", "to_state", "user_id", "actor_kind", "actor_id", "request_id"]
    ordering = ["id"]
    show_change_link = False


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
    inlines = [CouponEventInline]
    fieldsets = [
        (None, {"fields": ["code", "book", "partner", "state", "redemption_count"]}),
        ("Holder", {"fields": ["user_id", "assigned_at"]}),
        ("Lock", {"fields": ["lock_id", "locked_until"]}),
        ("Metadata", {"fields": ["metadata"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_urls(self):
        return [
            path(
                f"<path:object_id>/{name.replace('_', '-')}/",
                self.admin_site.admin_view(self.coupon_action_view),
                {"action": name},
                name=f"coupons_coupon_{name}",
            )
            for name in COUPON_ACTIONS
        ] + super().get_urls()

    def coupon_action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """A confirmation page (GET), then the service call (POST) answered with a message."""
        coupon = self.get_object(request, object_id)
        if coupon is None:
            raise Http404("No such coupon")
        if not self.has_change_permission(request):
            raise PermissionDenied
        spec = COUPON_ACTIONS[action]
        coupon_url = reverse("admin:coupons_coupon_change", args=[coupon.pk])
        if request.method == "POST":
            try:
                spec.service(coupon=coupon, actor=Actor.staff(request.user.pk))
            except ServiceError as error:
                messages.error(request, f"{coupon.code}: {error.detail}")
            else:
                messages.success(request, spec.done.format(code=coupon.code))
            return HttpResponseRedirect(coupon_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": Coupon._meta,
            "object": coupon,
            "coupon_url": coupon_url,
            "title": spec.title,
            "question": spec.question.format(code=coupon.code),
            "submit_label": spec.title,
        }
        return TemplateResponse(request, "admin/coupons/coupon/action_confirmation.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        coupon = self.get_object(request, object_id)
        can_change = self.has_change_permission(request)
        extra_context = {
            **(extra_context or {}),
            "coupon_actions": actions_for(coupon) if coupon and can_change else [],
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
        now = timezone.now()
        if coupon.assignment_has_expired(now=now):
            return f"{coupon.state} (assignment expired: reads as available)"
        if coupon.lock_has_expired(now=now):
            return "locked (expired: reads as assigned)"
        return coupon.state

    @admin.action(description="Void selected coupons", permissions=["change"])
    def void(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> None:
        self._run_per_coupon(request, queryset, coupon_void, done="Voided")

    @admin.action(description="Release the lock of selected coupons", permissions=["change"])
    def release_lock(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> None:
        self._run_per_coupon(request, queryset, coupon_release_lock, done="Released the lock of")

    def _run_per_coupon(
        self, request: HttpRequest, queryset: QuerySet[Coupon], service: Callable[..., Coupon], *, done: str
    ) -> None:
        coupons = list(queryset.order_by("id")[: MAX_ACTION_COUPONS + 1])
        if len(coupons) > MAX_ACTION_COUPONS:
            self.message_user(
                request, f"Nothing done: select at most {MAX_ACTION_COUPONS:,} coupons at a time.", messages.ERROR
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
