"""What every app's admin shares: read-only history tables, and how a layer
adds its part to the admin page of a model below it."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from couponsite.admin_paging import EstimatedCountPaginator
from couponsite.errors import InvalidInput


def extend_admin(model: type[Model], admin_class: type[admin.ModelAdmin]) -> None:
    """Put ``admin_class`` in the place of the admin registered for ``model``.

    Layers import only downward, so an app cannot reach up to the apps that
    build on its models; instead, an app above subclasses the admin of a model
    below it (adding its own page sections, inlines or views) and registers the
    subclass in its place. ``INSTALLED_APPS`` lists the apps bottom to top, so
    the admins are extended in that order.
    """
    admin.site.unregister(model)
    admin.site.register(model, admin_class)


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


def add_service_errors(form: forms.Form, error: InvalidInput) -> None:
    """Put a service's field errors on the form's fields, the rest on top."""
    if not error.errors:
        form.add_error(None, error.detail)
    for item in error.errors:
        field = item.get("field")
        form.add_error(field if field in form.fields else None, item.get("detail", error.detail))
