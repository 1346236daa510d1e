"""The book page's two extra admin forms: Generate codes and Upload CSV.

Both call the same bulk services as the API and the commands, and answer with
admin messages: the count created, or the service's errors (for an upload,
each rejected row with its line, value and reason; nothing is stored then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from books.admin_forms import GenerateCodesForm, UploadCodesForm, add_service_errors
from books.models import Book
from coupons import bulk
from couponsite.errors import InvalidInput, ServiceError

if TYPE_CHECKING:
    from books.admin import BookAdmin

# Adding codes adds coupons: the permission a role needs (books/roles.py).
ADD_CODES_PERMISSION = "coupons.add_coupon"


def can_add_codes(request: HttpRequest) -> bool:
    return request.user.has_perm(ADD_CODES_PERMISSION)


def _book_or_refuse(model_admin: BookAdmin, request: HttpRequest, object_id: str) -> Book:
    book = model_admin.get_object(request, object_id)
    if book is None:
        raise Http404("No such book")
    if not (model_admin.has_view_or_change_permission(request, book) and can_add_codes(request)):
        raise PermissionDenied
    return book


def _book_url(book: Book) -> str:
    return reverse("admin:books_book_change", args=[book.pk])


def _render(
    model_admin: BookAdmin, request: HttpRequest, book: Book, form, *, title: str, template: str, submit_label: str
) -> TemplateResponse:
    fieldsets = [(None, {"fields": list(form.fields)})]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Book._meta,
        "original": book,
        "book_url": _book_url(book),
        "title": title,
        "submit_label": submit_label,
        "form_id": template.rsplit("/", 1)[-1].removesuffix(".html") + "_form",
        "subtitle": str(book),
        "form": form,
        "adminform": helpers.AdminForm(form, fieldsets, {}),
        "media": model_admin.media + form.media,
        "has_file_field": any(field.widget.needs_multipart_form for field in form.fields.values()),
    }
    return TemplateResponse(request, template, context, status=400 if form.errors else 200)


def generate_codes_view(model_admin: BookAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    book = _book_or_refuse(model_admin, request, object_id)
    form = GenerateCodesForm(request.POST or None, book=book)
    if request.method == "POST" and form.is_valid():
        try:
            created = bulk.codes_generate(
                book=book, count=form.cleaned_data["count"], pattern=form.cleaned_data["pattern"] or None
            )
        except InvalidInput as error:
            add_service_errors(form, error)
            messages.error(request, f"No codes generated: {error.detail}")
        except ServiceError as error:
            messages.error(request, f"No codes generated: {error.detail}")
        else:
            messages.success(request, f"Generated {created:,} codes for {book}.")
            return HttpResponseRedirect(_book_url(book))
    return _render(
        model_admin,
        request,
        book,
        form,
        title="Generate codes",
        template="admin/books/book/generate_codes.html",
        submit_label="Generate",
    )


def upload_codes_view(model_admin: BookAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    book = _book_or_refuse(model_admin, request, object_id)
    form = UploadCodesForm(request.POST or None, request.FILES or None)
    rejected_rows: list[dict] = []
    if request.method == "POST" and form.is_valid():
        try:
            created = bulk.codes_import_csv(book=book, stream=form.cleaned_data["file"])
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
    response = _render(
        model_admin,
        request,
        book,
        form,
        title="Upload CSV",
        template="admin/books/book/upload_codes.html",
        submit_label="Upload",
    )
    if rejected_rows:
        response.status_code = 400
    return response


def _report_rejected_upload(request: HttpRequest, error: InvalidInput, rows: list[dict]) -> None:
    messages.error(request, f"Nothing stored: the file was rejected. {error.detail}")
    for row in rows:
        messages.error(request, f"Line {row['line']}: {row.get('value', '')!r}: {row.get('reason', '')}")
