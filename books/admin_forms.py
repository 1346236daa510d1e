"""Forms of the back office whose rules are the services' own.

A model form here validates by running its service inside a savepoint that is
then rolled back, so the admin shows exactly the errors the API would give,
on the right fields; the admin then saves through the same service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.db import transaction

from books.models import Book, Partner
from books.services import BOOK_FIELDS, book_create, book_update, partner_create
from coupons.bulk import MAX_CODES_PER_REQUEST
from couponsite.errors import InvalidInput


class _DryRun(Exception):
    """Raised to roll back a service call made only to validate."""


def validate_with_service(form: forms.Form, call: Callable[[], Any]) -> None:
    """Run ``call`` (a service) and roll it back, keeping only its errors."""
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        return
    except InvalidInput as error:
        add_service_errors(form, error)


def add_service_errors(form: forms.Form, error: InvalidInput) -> None:
    """Put the service's field errors on the form's fields, the rest on top."""
    if not error.errors:
        form.add_error(None, error.detail)
    for item in error.errors:
        field = item.get("field")
        form.add_error(field if field in form.fields else None, item.get("detail", error.detail))


class PartnerAddForm(forms.ModelForm):
    """Adding a partner (an existing one is only switched on or off)."""

    class Meta:
        model = Partner
        fields = ["name"]

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        if not self.errors:
            validate_with_service(self, self.save_through_service)
        return cleaned_data

    def save_through_service(self) -> Partner:
        return partner_create(name=self.cleaned_data["name"])


class BookAdminForm(forms.ModelForm):
    class Meta:
        model = Book
        fields = ["partner", *BOOK_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        if not self.errors:
            validate_with_service(self, self.save_through_service)
        return cleaned_data

    def save_through_service(self) -> Book:
        fields = {name: self.cleaned_data[name] for name in BOOK_FIELDS if name in self.cleaned_data}
        if self.instance.pk is None:
            name = fields.pop("name")
            return book_create(partner=self.cleaned_data["partner"], name=name, **fields)
        changed = {name: value for name, value in fields.items() if name in self.changed_data}
        # The service changes its own fresh, locked copy: the dry run leaves the form's instance alone.
        return book_update(book=self.instance, **changed)


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(
        min_value=1, max_value=MAX_CODES_PER_REQUEST, help_text=f"How many new codes, 1 to {MAX_CODES_PER_REQUEST:,}."
    )
    pattern = forms.CharField(
        required=False,
        max_length=64,
        help_text="'#' is a random character; anything else is kept as it is. Empty: the book's pattern.",
    )

    def __init__(self, *args: Any, book: Book, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pattern"].widget.attrs["placeholder"] = book.code_pattern


class UploadCodesForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="One code a row, optional header 'code'. Any bad row rejects the whole file.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
