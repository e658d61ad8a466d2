"""The audit trail: performed transitions, signatures and refused attempts (read only)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from releasemgmt.admin_mixins import AuditAdmin, ReadOnlyAdminMixin, restricted

from ..models import RefusedAttempt, Signature, TransitionLog
from .common import signature_summary, with_signatures



def change_link(content_type, object_id):
    """A link to the admin page of the row a log line is about, built from
    its content type (cached) and id: no query per row; its label alone
    where that model has no admin page."""
    label = f"{content_type.name} #{object_id}"
    try:
        url = reverse(f"admin:{content_type.app_label}_{content_type.model}_change", args=[object_id])
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


@admin.register(TransitionLog)
class TransitionLogAdmin(ReadOnlyAdminMixin, AuditAdmin):
    list_display = ("at", "subject_link", "name", "source", "target", "by", "reason", "signature")
    list_filter = ("name", "content_type", "target", "at")
    search_fields = ("name", "reason", "source", "target")
    list_select_related = ("content_type", "by")
    date_hierarchy = "at"
    readonly_fields = ("signature",)
    signature = signature_summary

    def get_queryset(self, request):
        return with_signatures(super().get_queryset(request))

    @admin.display(description="subject")
    def subject_link(self, obj):
        if obj.content_type_id is None:
            return "—"  # a refused attempt to create something
        return change_link(obj.content_type, obj.object_id)


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Signed decisions: who signed what, when, how and through which door,
    with the fingerprint of what was signed. Only ever added, never edited."""

    def get_queryset(self, request):
        return restricted(super().get_queryset(request), request)

    list_display = ("at", "signer_username", "meaning", "method", "entry_point", "decision_link", "fingerprint")
    list_filter = ("method", "entry_point", "meaning", "at")
    search_fields = ("signer_username", "meaning", "fingerprint")
    list_select_related = ("content_type",)
    date_hierarchy = "at"

    @admin.display(description="decision")
    def decision_link(self, obj):
        return change_link(obj.content_type, obj.object_id)


@admin.register(RefusedAttempt)
class RefusedAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Attempts refused for want of authority or by segregation of duties:
    evidence that the controls work. Only ever added, never edited."""

    def get_queryset(self, request):
        return restricted(super().get_queryset(request), request)

    list_display = ("at", "username", "action", "code", "entry_point", "subject_link", "detail")
    list_filter = ("code", "entry_point", "action", "content_type", "at")
    search_fields = ("username", "action", "detail")
    list_select_related = ("content_type",)
    date_hierarchy = "at"
    subject_link = TransitionLogAdmin.subject_link
