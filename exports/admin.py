"""Exports in the back office: the list of exports with their files, the book
page's Export codes, and the export actions of the redemptions and events
lists. Each starts a background job (``exports.services``) and needs
``exports.start_export`` (coupon managers, not support: couponsite/roles.py).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from books.models import Book
from coupons.admin.events import CouponEventAdmin
from coupons.models import CouponEvent, CouponState
from couponsite.actors import Actor
from couponsite.admin_tools import ReadOnlyAdmin, extend_admin
from couponsite.errors import ServiceError
from exports.models import Export, ExportKind
from exports.services import export_book_codes_start, export_path, export_selection_start
from redemptions import admin as redemptions_admin
from redemptions.models import Redemption

START_EXPORT_PERMISSION = "exports.start_export"


def can_export(request: HttpRequest) -> bool:
    return request.user.has_perm(START_EXPORT_PERMISSION)


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "description", "status", "rows", "actor", "finished_at", "file"]
    list_filter = ["status", "kind"]
    readonly_fields = [
        "description",
        "kind",
        "status",
        "rows",
        "error",
        "actor",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
        "file",
    ]
    fields = readonly_fields

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<uuid:export_id>/download/", view(self.download_view), name="exports_export_download"),
            *super().get_urls(),
        ]

    @admin.display(description="by")
    def actor(self, export: Export) -> str:
        return f"{export.actor_kind} {export.actor_id}"

    @admin.display(description="file")
    def file(self, export: Export) -> str:
        if export.downloadable:
            url = reverse("admin:exports_export_download", args=[export.pk])
            return format_html('<a href="{}">Download</a> (until {} UTC)', url, f"{export.expires_at:%Y-%m-%d %H:%M}")
        if export.file_deleted_at:
            return "expired"
        return export.error or "-"

    def download_view(self, request: HttpRequest, export_id) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        export = Export.objects.filter(pk=export_id).first()
        if export is None or not export.downloadable:
            raise Http404("No such export file")
        return FileResponse(
            export_path(export).open("rb"), as_attachment=True, filename=export.download_name, content_type="text/csv"
        )


class ExportCodesForm(forms.Form):
    state = forms.ChoiceField(
        required=False,
        choices=[("", "every state"), *CouponState.choices],
        help_text="Only coupons in this state (as partners see it: an expired lock reads assigned).",
    )


class BookAdmin(redemptions_admin.BookAdmin):
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/export/", view(self.export_codes_view), name="books_book_export"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {**(extra_context or {}), "can_export": can_export(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def export_codes_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        book = self.get_object(request, object_id)
        if book is None:
            raise Http404("No such book")
        if not (self.has_view_or_change_permission(request, book) and can_export(request)):
            raise PermissionDenied
        form = ExportCodesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                export = export_book_codes_start(
                    book=book,
                    state=form.cleaned_data["state"] or None,
                    actor=Actor.staff(request.user.pk),
                    for_people=True,
                )
            except ServiceError as error:
                messages.error(request, f"No export started: {error.detail}")
            else:
                return _export_started(request, export)
        return self._render_codes_form(
            request, book, form, title="Export codes", template="export_codes", submit_label="Export"
        )


def _export_started(request: HttpRequest, export: Export) -> HttpResponseRedirect:
    messages.success(request, f"Export started: {export.description}. Its file appears here when complete.")
    return HttpResponseRedirect(reverse("admin:exports_export_changelist"))


class SelectionExportMixin:
    """An "Export as CSV" action on a history list: the selection (or every
    matching row) becomes a background export."""

    export_kind: ExportKind
    actions = ["export_csv"]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return can_export(request)

    @admin.action(description="Export selected as CSV (in the background)", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet):
        label = self.model._meta.verbose_name_plural
        export = export_selection_start(
            kind=self.export_kind,
            queryset=queryset,
            description=f"{label.capitalize()}: a selection made {_now_label()}",
            actor=Actor.staff(request.user.pk),
        )
        return _export_started(request, export)


def _now_label() -> str:
    return f"{timezone.now():%Y-%m-%d %H:%M} UTC"


class RedemptionAdmin(SelectionExportMixin, redemptions_admin.RedemptionAdmin):
    export_kind = ExportKind.REDEMPTIONS


class EventAdmin(SelectionExportMixin, CouponEventAdmin):
    export_kind = ExportKind.EVENTS


extend_admin(Book, BookAdmin)
extend_admin(Redemption, RedemptionAdmin)
extend_admin(CouponEvent, EventAdmin)
