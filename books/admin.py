"""Partners, their API keys and books in the admin, written through the services.

The book page gets its code actions and charts from the layers above
(``couponsite.admin_tools.extend_admin``).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework_api_key.models import APIKey

from books.admin_forms import BookAdminForm, PartnerAddForm
from books.models import Book, Partner, PartnerAPIKey
from books.services import api_key_issue, api_key_revoke, partner_set_active

# The library registers its own key model; ours is PartnerAPIKey, so the other
# would only be an empty, confusing page.
admin.site.unregister(APIKey)


class PartnerAPIKeyInline(admin.TabularInline):
    """The partner's keys at a glance; issuing one goes through the key page,
    which shows the new key once."""

    model = PartnerAPIKey
    fields = ["prefix", "name", "created", "expiry_date", "revoked"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Partner | None = None) -> bool:
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    actions = ["deactivate"]
    inlines = [PartnerAPIKeyInline]

    def get_fields(self, request: HttpRequest, obj: Partner | None = None) -> list[str]:
        return ["name"] if obj is None else ["name", "is_active", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Partner | None = None) -> list[str]:
        # Renaming is not offered: partners are told apart by name in logs and exports.
        return [] if obj is None else ["name", "created_at"]

    def get_form(self, request: HttpRequest, obj: Partner | None = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = PartnerAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Partner | None) -> list:
        return self.inlines if obj is not None else []

    def save_form(self, request: HttpRequest, form, change: bool) -> Partner:
        if change:
            return form.save(commit=False)
        return form.save_through_service()

    def save_model(self, request: HttpRequest, obj: Partner, form, change: bool) -> None:
        # A new partner was saved by partner_create in save_form; on an existing
        # one the only field offered is whether it is active.
        if change and "is_active" in form.changed_data:
            partner_set_active(partner=obj, is_active=obj.is_active)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)
        # A new partner has no keys yet and no many-to-many fields to save.

    def has_delete_permission(self, request: HttpRequest, obj: Partner | None = None) -> bool:
        # A partner is deactivated, never deleted: its books and history stay.
        return False

    @admin.action(description="Deactivate selected partners", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        partners = list(queryset.filter(is_active=True))
        for partner in partners:
            partner_set_active(partner=partner, is_active=False)
        self.message_user(request, f"Deactivated {len(partners)} partner(s).", messages.SUCCESS)


@admin.register(PartnerAPIKey)
class PartnerAPIKeyAdmin(admin.ModelAdmin):
    """Keys are issued and revoked through the services; a new key is shown once."""

    list_display = ["prefix", "name", "partner", "created", "expiry_date", "_has_expired", "revoked"]
    list_filter = ["revoked", "partner", "created"]
    list_select_related = ["partner"]
    search_fields = ["prefix", "name", "partner__name"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: PartnerAPIKey | None = None) -> list[str]:
        if obj is None:
            return ["partner", "name", "expiry_date"]
        return ["partner", "prefix", "name", "created", "expiry_date", "revoked"]

    def get_readonly_fields(self, request: HttpRequest, obj: PartnerAPIKey | None = None) -> list[str]:
        if obj is None:
            return []
        # Revoking is the action's (a service), and a revoked key stays as it was.
        editable = [] if obj.revoked else ["name", "expiry_date"]
        return [field for field in self.get_fields(request, obj) if field not in editable]

    def save_form(self, request: HttpRequest, form, change: bool) -> PartnerAPIKey:
        if change:
            return form.save(commit=False)
        api_key, plain_key = api_key_issue(
            partner=form.cleaned_data["partner"],
            name=form.cleaned_data["name"],
            expiry_date=form.cleaned_data["expiry_date"],
        )
        messages.warning(
            request,
            f"The API key for {api_key.name} is: {plain_key}. "
            "Please store it somewhere safe: you will not be able to see it again.",
        )
        return api_key

    def save_model(self, request: HttpRequest, obj: PartnerAPIKey, form, change: bool) -> None:
        # A new key was issued by api_key_issue in save_form.
        if change:
            obj.save(update_fields=[field for field in form.changed_data if field in ("name", "expiry_date")])

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """A key has no inlines and no many-to-many fields."""

    def has_delete_permission(self, request: HttpRequest, obj: PartnerAPIKey | None = None) -> bool:
        # Events name the key that made them by its prefix: revoke, keep the row.
        return False

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[PartnerAPIKey]) -> None:
        prefixes = list(queryset.filter(revoked=False).values_list("prefix", flat=True))
        for prefix in prefixes:
            api_key_revoke(prefix=prefix)
        self.message_user(request, f"Revoked {len(prefixes)} API key(s).", messages.SUCCESS)


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    form = BookAdminForm
    list_display = ["name", "partner", "is_active", "valid_from", "valid_until", "created_at"]
    list_filter = ["is_active", "partner"]
    list_select_related = ["partner"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["partner", "name", "description", "is_active", "metadata"]}),
        ("Limits", {"fields": ["max_codes_per_user", "max_redemptions_per_coupon", "assignment_ttl_seconds"]}),
        ("Validity window", {"fields": ["valid_from", "valid_until"]}),
        ("Codes", {"fields": ["code_pattern", "charset"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Book | None = None) -> list[str]:
        # A book's coupons carry its partner (codes are unique per partner).
        return [] if obj is None else ["partner"]

    def save_form(self, request: HttpRequest, form: BookAdminForm, change: bool) -> Book:
        # The services validate and save in one step, with the API's rules.
        return form.save_through_service()

    def save_model(self, request: HttpRequest, obj: Book, form: BookAdminForm, change: bool) -> None:
        """Already saved by book_create or book_update in save_form."""

    def save_related(self, request: HttpRequest, form: BookAdminForm, formsets, change: bool) -> None:
        """A book has no many-to-many fields and no inlines."""
