"""Webhooks in the back office: staff see each endpoint (never its secret),
its deliveries and their attempts, and why an endpoint was switched off;
coupon managers retry a delivery or switch an endpoint off, through the
services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from couponsite.admin_tools import ReadOnlyAdmin, ReadOnlyInline
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_retry, webhook_endpoint_disable


class AttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["attempted_at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    ordering = ["-id"]
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "partner", "is_active", "failing_since", "disabled_reason", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["partner"]
    search_fields = ["url", "=partner__name"]
    # The secrets sign deliveries: nobody reads them here.
    exclude = ["secret", "previous_secret"]
    readonly_fields = [
        "partner",
        "url",
        "event_types",
        "description",
        "is_active",
        "disabled_reason",
        "failing_since",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ]
    actions = ["disable"]

    def has_disable_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_webhookendpoint")

    @admin.action(description="Switch off selected endpoints", permissions=["disable"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        reason = f"Switched off by staff ({request.user.get_username()})."
        for endpoint in queryset.filter(is_active=True):
            webhook_endpoint_disable(endpoint=endpoint, reason=reason)
        self.message_user(request, f"Switched off {queryset.count()} endpoints.", messages.SUCCESS)


class FailedFirst(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("failed", "failed"), ("pending", "pending (being retried)"), ("succeeded", "succeeded")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> QuerySet[WebhookDelivery]:
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "event_type",
        "message_id",
        "status",
        "attempt_count",
        "last_status_code",
        "last_error",
        "next_attempt_at",
    ]
    list_filter = [FailedFirst, "event_type"]
    list_select_related = ["endpoint"]
    search_fields = ["=message_id", "=endpoint__id"]
    search_help_text = "The exact webhook-id, or an endpoint's id."
    ordering = ["-id"]
    exclude = ["test_data"]
    readonly_fields = [
        "endpoint",
        "event",
        "event_type",
        "message_id",
        "status",
        "attempt_count",
        "next_attempt_at",
        "give_up_at",
        "last_status_code",
        "last_error",
        "created_at",
        "finished_at",
    ]
    inlines = [AttemptInline]
    actions = ["retry"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(description="Send selected deliveries again (24 hours of retries from now)", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            webhook_delivery_retry(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries will be sent at the next drain.", messages.SUCCESS)
