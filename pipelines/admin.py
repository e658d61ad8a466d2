"""Pipeline tokens in Django admin: created through the service, shown once,
afterwards only their fingerprint; revoked, never edited or deleted."""
from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from releasemgmt.admin_mixins import AuditAdmin, ServiceAdminMixin, ServiceModelForm
from releasemgmt.workflow import TransitionError

from . import services
from .models import PipelineToken


class PipelineTokenForm(ServiceModelForm):
    """No field holds the token: it is generated, shown once, then only its fingerprint."""

    class Meta:
        model = PipelineToken
        fields = ("name", "user")


@admin.register(PipelineToken)
class PipelineTokenAdmin(ServiceAdminMixin, AuditAdmin):
    """A pipeline's token for the deployment gate, for a service account
    holding the deployment team's role."""

    form = PipelineTokenForm
    list_display = ("name", "user", "fingerprint", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "fingerprint")
    list_select_related = ("user",)
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user"]
        return ["name", "user", "fingerprint", "created_by", "created_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return super().get_readonly_fields(request, obj)
        return ["name", "user", "fingerprint", "created_by", "created_at", "revoked_at"]

    def write_check(self, request, obj=None) -> None:
        if obj is None:
            services.token_create_check(by=request.user)
        else:
            raise ValidationError("A token is not edited: revoke it and create another.")

    def has_change_permission(self, request, obj=None):
        return False  # viewed and revoked, never edited

    def has_revoke_permission(self, request):
        return request.user.has_perm(services.TOKEN_ADMIN_PERMISSION)

    def perform_save(self, request, form, change):
        token, key = services.token_create(name=form.cleaned_data["name"], user=form.cleaned_data["user"],
                                           by=request.user)
        request._new_gate_token = (token, key)
        return token

    def response_add(self, request, obj, post_url_continue=None):
        shown = getattr(request, "_new_gate_token", None)
        if shown is None:
            return super().response_add(request, obj, post_url_continue)
        token, key = shown
        # The only page that ever shows the token: the answer to the POST
        # that made it, kept out of every cache, never redirected to.
        response = TemplateResponse(request, "admin/pipelines/pipelinetoken/token_once.html", {
            **self.admin_site.each_context(request),
            "title": "New pipeline token",
            "opts": self.model._meta,
            "token": token,
            "key": key,
            "gate_url": f"{settings.SITE_URL.rstrip('/')}{reverse('api-gate')}",
            "changelist_url": reverse("admin:pipelines_pipelinetoken_changelist"),
        })
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke the selected tokens (at once)", permissions=["revoke"])
    def revoke(self, request, queryset):
        for token in queryset.order_by("pk"):
            try:
                services.token_revoke(token_id=token.pk, by=request.user)
            except TransitionError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
                return
        self.message_user(request, f"Revoked {queryset.count()} pipeline token(s).")


from . import adapter_admin  # noqa: E402,F401 - registers the adapters' admin
