"""The GitHub and GitLab adapters in Django admin: their settings, with the
webhook secret and API token write-only (typed in, kept sealed, afterwards
only their fingerprints), and the checks they answered, read-only."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse

from releasemgmt.admin_mixins import AuditAdmin, ReadOnlyAdminMixin
from releasemgmt.workflow import has_any_role

from .adapter_models import AdapterCheck, PipelineAdapter
from .services import SERVICE_ACCOUNT_ROLE

WRITE_ONLY = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class PipelineAdapterForm(forms.ModelForm):
    """The secrets are form fields only: never rendered back, blank on a
    change keeps the one kept."""

    webhook_secret = forms.CharField(
        required=False, strip=True, max_length=500, widget=WRITE_ONLY,
        help_text="GitHub: the App's webhook secret. GitLab: the hook's secret token. Never shown again; leave "
                  "blank to keep the current one.")
    base_url = forms.URLField(assume_scheme="https", max_length=300,
                              help_text=PipelineAdapter._meta.get_field("base_url").help_text)
    api_token = forms.CharField(
        required=False, strip=True, max_length=2000, widget=WRITE_ONLY,
        help_text="GitHub: the App installation's access token. GitLab: an access token (scope api) of a user who "
                  "may approve deployments to the protected environments. Never shown again; leave blank to keep "
                  "the current one.")

    class Meta:
        model = PipelineAdapter
        fields = ("name", "kind", "user", "base_url", "repositories", "environments", "version_from", "active")

    def clean(self):
        data = super().clean()
        user = data.get("user")
        if user is not None and (user.is_superuser or not has_any_role(user, (SERVICE_ACCOUNT_ROLE,))):
            self.add_error("user", "An adapter acts as a service account holding the deployment team's role, "
                                   "and not as a superuser.")
        for name in ("repositories", "environments"):
            value = data.get(name)
            if value is not None and not (isinstance(value, dict) and all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
                self.add_error(name, 'A JSON object of names to names, e.g. {"prod": "production"}.')
        if self.instance.pk is None:
            for name in ("webhook_secret", "api_token"):
                if not data.get(name):
                    self.add_error(name, "Required for a new adapter.")
        return data


@admin.register(PipelineAdapter)
class PipelineAdapterAdmin(AuditAdmin):
    """A CI/CD platform asking the gate on its own (GitHub, GitLab)."""

    form = PipelineAdapterForm
    list_display = ("name", "kind", "user", "base_url", "active", "webhook_secret_fingerprint",
                    "api_token_fingerprint")
    list_filter = ("kind", "active")
    search_fields = ("name", "base_url")
    list_select_related = ("user",)

    def get_fields(self, request, obj=None):
        fields = ["name", "kind", "user", "base_url", "webhook_secret", "api_token", "repositories",
                  "environments", "version_from", "active"]
        return fields + ([] if obj is None else ["secrets", "webhook_url"])

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "secrets", "webhook_url"]

    @admin.display(description="kept secrets")
    def secrets(self, obj):
        return (f"Webhook secret {obj.webhook_secret_fingerprint or 'none'}, "
                f"API token {obj.api_token_fingerprint or 'none'} (fingerprints: first 12 hex digits of SHA-256).")

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        from django.conf import settings

        return f"{settings.SITE_URL.rstrip('/')}{reverse(f'api-gate-{obj.kind}', args=[obj.pk])}"

    def save_model(self, request, obj, form, change):
        obj.set_secrets(webhook_secret=form.cleaned_data.get("webhook_secret") or None,
                        api_token=form.cleaned_data.get("api_token") or None)
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(AdapterCheck)
class AdapterCheckAdmin(ReadOnlyAdminMixin, AuditAdmin):
    """What each adapter asked the gate and answered, as sent."""

    list_display = ("reference", "adapter", "release", "state", "decision", "answer", "created_at", "answered_at")
    list_filter = ("state", "answer", "adapter")
    search_fields = ("reference", "ci", "version")
    list_select_related = ("adapter", "release")
