"""The book page's coupon parts: its coupons counted by state, and the two
code actions, Generate codes and Upload CSV, which call the same services as
the API and the commands, with the same per-request cap as the API.

They extend the books layer's admin (``couponsite.admin_tools.extend_admin``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from books import admin as books_admin
from books import charts
from books.codes import CHARSETS, CUSTOM_CHARSET_LENGTH
from books.models import Book
from coupons.generation import codes_generate
from coupons.imports import codes_import_csv
from coupons.selectors import book_state_counts
from coupons.services import book_update_recorded
from couponsite.actors import Actor
from couponsite.admin_tools import add_service_errors, extend_admin
from couponsite.bounds import CODE_MAX_LENGTH, CODES_PER_REQUEST_MAX, UPLOAD_MAX_BYTES
from couponsite.errors import InvalidInput, ServiceError

# Adding codes adds coupons: the permission a role needs (couponsite/roles.py).
ADD_CODES_PERMISSION = "coupons.add_coupon"


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(
        min_value=1, max_value=CODES_PER_REQUEST_MAX, help_text=f"How many new codes, 1 to {CODES_PER_REQUEST_MAX:,}."
    )
    pattern = forms.CharField(
        required=False,
        max_length=CODE_MAX_LENGTH,
        help_text="'#' is a random character; anything else is kept as it is. Empty: the book's pattern.",
    )
    charset = forms.CharField(
        required=False,
        max_length=CUSTOM_CHARSET_LENGTH[1],
        help_text=f"What '#' draws from: {', '.join(CHARSETS)}, or 10 to 64 characters of your own. Empty: the book's.",
    )

    def __init__(self, *args: Any, book: Book, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pattern"].widget.attrs["placeholder"] = book.code_pattern
        self.fields["charset"].widget.attrs["placeholder"] = book.charset


class UploadCodesForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            f"One code a row, optional header 'code', at most {CODES_PER_REQUEST_MAX:,} codes and "
            f"{UPLOAD_MAX_BYTES // 2**20} MB. Any bad row rejects the whole file."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > UPLOAD_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {UPLOAD_MAX_BYTES // 2**20} MB; split it.")
        return upload


class BookAdmin(books_admin.BookAdmin):
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/generate/", view(self.generate_codes_view), name="books_book_generate"),
            path("<path:object_id>/upload/", view(self.upload_codes_view), name="books_book_upload"),
            *super().get_urls(),
        ]

    def save_form(self, request: HttpRequest, form, change: bool) -> Book:
        # A change is recorded on the audit trail with its staff user.
        if not change:
            return super().save_form(request, form, change)
        return book_update_recorded(book=form.instance, actor=Actor.staff(request.user.pk), **form.changes())

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        book = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "can_add_codes": _can_add_codes(request)}
        if book is not None:
            counts = book_state_counts(book=book)
            extra_context |= {
                "state_bar": charts.state_bar_svg(counts),
                "state_rows": charts.state_rows(counts),
                "total_display": f"{counts['total']:,}",
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def generate_codes_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        book = self._book_to_add_codes_to(request, object_id)
        form = GenerateCodesForm(request.POST or None, book=book)
        if request.method == "POST" and form.is_valid():
            try:
                created = codes_generate(
                    book=book,
                    count=form.cleaned_data["count"],
                    pattern=form.cleaned_data["pattern"] or None,
                    charset=form.cleaned_data["charset"] or None,
                    max_count=CODES_PER_REQUEST_MAX,
                    actor=Actor.staff(request.user.pk),
                )
            except ServiceError as error:
                if isinstance(error, InvalidInput):
                    add_service_errors(form, error)
                messages.error(request, f"No codes generated: {error.detail}")
            else:
                messages.success(request, f"Generated {created:,} codes for {book}.")
                return HttpResponseRedirect(_book_url(book))
        return self._render_codes_form(
            request, book, form, title="Generate codes", template="generate_codes", submit_label="Generate"
        )

    def upload_codes_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        book = self._book_to_add_codes_to(request, object_id)
        form = UploadCodesForm(request.POST or None, request.FILES or None)
        rejected_rows: list[dict] = []
        if request.method == "POST" and form.is_valid():
            try:
                created = codes_import_csv(
                    book=book,
                    stream=form.cleaned_data["file"],
                    max_count=CODES_PER_REQUEST_MAX,
                    actor=Actor.staff(request.user.pk),
                )
            except InvalidInput as error:
                rejected_rows = [row for row in error.errors if "line" in row]
                _report_rejected_upload(request, error, rejected_rows)
                if not rejected_rows:
                    add_service_errors(form, error)
            except ServiceError as error:
                messages.error(request, f"Nothing stored: {error.detail}")
            else:
                messages.success(request, f"Uploaded {created:,} codes to {book}.")
                return HttpResponseRedirect(_book_url(book))
        response = self._render_codes_form(
            request, book, form, title="Upload CSV", template="upload_codes", submit_label="Upload"
        )
        if rejected_rows:
            response.status_code = 400
        return response

    def _book_to_add_codes_to(self, request: HttpRequest, object_id: str) -> Book:
        book = self.get_object(request, object_id)
        if book is None:
            raise Http404("No such book")
        if not (self.has_view_or_change_permission(request, book) and _can_add_codes(request)):
            raise PermissionDenied
        return book

    def _render_codes_form(
        self, request: HttpRequest, book: Book, form: forms.Form, *, title: str, template: str, submit_label: str
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": Book._meta,
            "original": book,
            "book_url": _book_url(book),
            "title": title,
            "submit_label": submit_label,
            "form_id": f"{template}_form",
            "subtitle": str(book),
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}),
            "media": self.media + form.media,
            "has_file_field": any(field.widget.needs_multipart_form for field in form.fields.values()),
        }
        status = 400 if form.errors else 200
        return TemplateResponse(request, f"admin/books/book/{template}.html", context, status=status)


def _can_add_codes(request: HttpRequest) -> bool:
    return request.user.has_perm(ADD_CODES_PERMISSION)


def _book_url(book: Book) -> str:
    return reverse("admin:books_book_change", args=[book.pk])


def _report_rejected_upload(request: HttpRequest, error: InvalidInput, rows: list[dict]) -> None:
    messages.error(request, f"Nothing stored: the file was rejected. {error.detail}")
    for row in rows:
        messages.error(request, f"Line {row['line']}: {row.get('value', '')!r}: {row.get('reason', '')}")


extend_admin(Book, BookAdmin)
