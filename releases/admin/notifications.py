"""The outbox and the inbound deliveries (read only)."""

from __future__ import annotations

from django.contrib import admin

from releasemgmt.admin_mixins import AuditAdmin, ReadOnlyAdminMixin

from .. import services
from ..models import InboundDelivery, OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, AuditAdmin):
    list_display = ("created_at", "event", "release", "channel", "recipient", "subject", "status", "attempts",
                    "sent_at")
    list_filter = ("status", "channel", "event", "created_at")
    search_fields = ("recipient", "subject", "event", "dedupe_key")
    list_select_related = ("release",)
    date_hierarchy = "created_at"
    actions = ["retry_delivery"]
    exclude = ("payload",)
    readonly_fields = ("last_error",)

    @admin.action(description="Retry delivery of the selected failed messages")
    def retry_delivery(self, request, queryset):
        try:
            count = services.outbox_retry(message_ids=list(queryset.values_list("pk", flat=True)), by=request.user)
        except services.RecordRefused as exc:
            self.message_user(request, exc.detail, level="error")
            return
        self.message_user(request, f"{count} failed message(s) will be delivered again.")


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(ReadOnlyAdminMixin, AuditAdmin):
    """Signed updates received from vendors' systems, by idempotency key."""

    list_display = ("received_at", "vendor", "idempotency_key")
    list_filter = ("vendor",)
    search_fields = ("idempotency_key",)
    list_select_related = ("vendor",)
