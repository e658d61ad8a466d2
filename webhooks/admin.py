"""Subscriptions and their delivery logs in Django admin: read, paused or
resumed through the service; made on the subscriptions page or over the API
(where the secret is shown once), never deleted (their log is evidence)."""
from __future__ import annotations

from django.contrib import admin, messages

from releasemgmt.admin_mixins import AuditAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from releasemgmt.authz import manages_integrations
from releasemgmt.errors import TransitionError

from . import services
from .models import Delivery, DeliveryAttempt, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, AuditAdmin):
    list_display = ("url", "description", "active", "secret_fingerprint", "created_by", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description", "secret_fingerprint")
    list_select_related = ("created_by",)
    fields = ("url", "description", "event_types", "active", "secret_fingerprint", "created_by", "created_at")
    readonly_fields = fields
    actions = ["pause", "resume"]

    def _set_active(self, request, queryset, active: bool):
        for subscription in queryset.order_by("pk"):
            try:
                services.subscription_update(subscription_id=subscription.pk, by=request.user, active=active)
            except TransitionError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
                return
        self.message_user(request, f"{'Resumed' if active else 'Paused'} {queryset.count()} subscription(s).")

    def has_manage_permission(self, request):
        return manages_integrations(request.user)

    @admin.action(description="Pause the selected subscriptions", permissions=["manage"])
    def pause(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description="Resume the selected subscriptions", permissions=["manage"])
    def resume(self, request, queryset):
        self._set_active(request, queryset, True)


class AttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ("attempt", "at", "status_code", "error", "duration_ms")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, AuditAdmin):
    list_display = ("webhook_id", "event_type", "subscription", "created_at", "message")
    list_filter = ("event_type",)
    search_fields = ("webhook_id", "subscription__url")
    list_select_related = ("subscription", "message")
    fields = ("webhook_id", "subscription", "event_type", "created_at", "message", "body")
    readonly_fields = fields
    inlines = [AttemptInline]
