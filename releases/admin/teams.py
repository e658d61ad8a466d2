"""Teams and vendors: who tasks are assigned to, and how a vendor is told."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from releasemgmt.admin_mixins import AuditAdmin
from releasemgmt.workflow import TransitionError

from .. import vendor_services
from ..models import Team, Vendor


@admin.register(Team)
class TeamAdmin(AuditAdmin):
    deletable = True
    list_display = ("name", "email", "member_count")
    search_fields = ("name", "email")
    filter_horizontal = ("members",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("members", distinct=True))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total


class VendorForm(forms.ModelForm):
    """No field holds the integration secret: it is generated, shown once and
    afterwards only as its fingerprint (``VendorAdmin``)."""

    integration_url = forms.URLField(required=False, assume_scheme="https",
                                     help_text="The vendor's ticketing endpoint (B2B); empty for email only.")
    generate_secret = forms.BooleanField(
        required=False, initial=True, label="Generate an integration secret",
        help_text="Shown once, after saving. The vendor's system signs its updates with it, "
                  "and we sign the tasks we send it.")

    class Meta:
        model = Vendor
        fields = ("name", "email", "users", "integration_url")


@admin.register(Vendor)
class VendorAdmin(AuditAdmin):
    """Vendors and their integration. The secret is write-only: shown once
    when generated (on creation or with the "Rotate secret" action),
    afterwards only its fingerprint, to whoever may view vendors."""

    form = VendorForm
    deletable = True
    list_display = ("name", "email", "has_integration", "secret_fingerprint", "user_count")
    search_fields = ("name", "email")
    filter_horizontal = ("users",)
    actions = ["rotate_secret", "remove_secret"]

    def get_fields(self, request, obj=None):
        fields = ["name", "email", "users", "integration_url"]
        return fields + (["generate_secret"] if obj is None else ["secret_status"])

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "secret_status"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_total=Count("users", distinct=True))

    @admin.display(description="B2B integration", boolean=True)
    def has_integration(self, obj):
        return bool(obj.integration_url)

    @admin.display(description="users", ordering="user_total")
    def user_count(self, obj):
        return obj.user_total

    @admin.display(description="integration secret")
    def secret_status(self, obj):
        if not obj.has_secret:
            return "None: the vendor's system can neither receive signed tasks nor send updates."
        text = f"Fingerprint {obj.secret_fingerprint}"
        if obj.secret_set_at:
            text += f", set {obj.secret_set_at:%Y-%m-%d %H:%M} UTC"
        if obj.previous_secret_valid_until and obj.previous_secret_valid_until > timezone.now():
            text += (f". The previous secret ({obj.previous_secret_fingerprint}) is still accepted until "
                     f"{obj.previous_secret_valid_until:%Y-%m-%d %H:%M} UTC")
        return text + ". Use the \"Rotate secret\" action of the vendor list for a new one."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and form.cleaned_data.get("generate_secret"):
            secret = vendor_services.vendor_secret_rotate(vendor_id=obj.pk, by=request.user)
            obj.refresh_from_db()
            request._new_vendor_secrets = [(obj, secret)]

    def response_add(self, request, obj, post_url_continue=None):
        shown = getattr(request, "_new_vendor_secrets", None)
        if shown:
            return self._show_secrets_once(request, shown)
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Rotate secret (the previous one stays valid for the overlap window)",
                  permissions=["change"])
    def rotate_secret(self, request, queryset):
        shown = []
        for vendor in queryset.order_by("name"):
            try:
                secret = vendor_services.vendor_secret_rotate(vendor_id=vendor.pk, by=request.user)
            except TransitionError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
                return None
            vendor.refresh_from_db()
            shown.append((vendor, secret))
        return self._show_secrets_once(request, shown)

    @admin.action(description="Remove secret (current and previous, at once)", permissions=["change"])
    def remove_secret(self, request, queryset):
        for vendor in queryset:
            try:
                vendor_services.vendor_secret_remove(vendor_id=vendor.pk, by=request.user)
            except TransitionError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
                return
        self.message_user(request, f"Removed the integration secret of {queryset.count()} vendor(s).")

    def _show_secrets_once(self, request, shown):
        """The only page that ever shows a secret: rendered in answer to the
        POST that made it, kept out of every cache, never redirected to."""
        site = settings.SITE_URL.rstrip("/")
        response = TemplateResponse(request, "admin/releases/vendor/secret_once.html", {
            **self.admin_site.each_context(request),
            "title": "New integration secrets" if len(shown) > 1 else "New integration secret",
            "opts": self.model._meta,
            "rows": [{"vendor": v, "secret": secret, "inbound_url": f"{site}/api/vendors/{v.pk}/inbound/"}
                     for v, secret in shown],
            "overlap_hours": settings.VENDOR_SECRET_OVERLAP_HOURS,
            "changelist_url": reverse("admin:releases_vendor_changelist"),
        })
        add_never_cache_headers(response)
        return response
