"""The back office's forms for partners and books. Their rules are the
services' own: ``clean`` asks the service's validation function about the
unsaved object, so the admin shows exactly the errors the API would give, on
the right fields, and the admin then saves through the same service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from books.models import Book, Partner
from books.services import book_create, book_update, book_validate, partner_create, partner_validate
from couponsite.admin_tools import add_service_errors
from couponsite.errors import InvalidInput

BOOK_FIELDS = [
    "name",
    "description",
    "max_codes_per_user",
    "max_redemptions_per_coupon",
    "assignment_ttl_seconds",
    "valid_from",
    "valid_until",
    "code_pattern",
    "charset",
    "is_active",
    "metadata",
]


class ServiceRulesForm(forms.ModelForm):
    """A model form whose rules are a service's validation function, asked
    about the unsaved instance the form has filled in. The model's database
    constraints back those rules up; their bare messages ("Constraint ... is
    violated") give way to the service's, which name the field and say why."""

    def service_validate(self, instance: Any) -> None:
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()
        constraint_messages = {str(c.get_violation_error_message()) for c in self._meta.model._meta.constraints}
        top = self._errors.get(NON_FIELD_ERRORS)
        if top is not None:
            kept = [message for message in top if message not in constraint_messages]
            if kept:
                self._errors[NON_FIELD_ERRORS] = self.error_class(kept, error_class="nonfield", renderer=self.renderer)
            else:
                del self._errors[NON_FIELD_ERRORS]
        if self._errors:
            # A field's own error first; the service would only say it again.
            return
        try:
            self.service_validate(self.instance)
        except InvalidInput as error:
            add_service_errors(self, error)


class PartnerAddForm(ServiceRulesForm):
    """Adding a partner (an existing one is only switched on or off)."""

    class Meta:
        model = Partner
        fields = ["name"]

    def service_validate(self, instance: Partner) -> None:
        partner_validate(instance)

    def save_through_service(self) -> Partner:
        return partner_create(name=self.cleaned_data["name"])


class BookAdminForm(ServiceRulesForm):
    class Meta:
        model = Book
        fields = ["partner", *BOOK_FIELDS]

    def service_validate(self, instance: Book) -> None:
        book_validate(instance)

    def save_through_service(self) -> Book:
        fields = {name: self.cleaned_data[name] for name in BOOK_FIELDS if name in self.cleaned_data}
        if self.instance.pk is None:
            return book_create(partner=self.cleaned_data["partner"], **fields)
        return book_update(book=self.instance, **self.changes())

    def changes(self) -> dict:
        """The fields changed on the form of an existing book, with their new values."""
        return {
            name: self.cleaned_data[name]
            for name in BOOK_FIELDS
            if name in self.changed_data and name in self.cleaned_data
        }
