"""Standard changes in the admin: approved (added) and withdrawn (changed),
each signed with the change manager's password, through
``releases.standard_changes``, which decides."""
from __future__ import annotations

from django import forms
from django.contrib import admin

from releasemgmt.admin_mixins import AuditAdmin, ServiceAdminMixin, ServiceModelForm
from releasemgmt.forms import PasswordField
from releasemgmt.signing import Password

from .. import standard_changes
from ..models import StandardChange


class StandardChangeForm(ServiceModelForm):
    """Added: the template, CIs and note, signed. Changed: the withdrawal,
    its reason signed (nothing else of a standing approval changes)."""

    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Withdraw: reason",
                             help_text="To withdraw the standard change: why. Plans it approved keep their approval.")
    password = PasswordField()


@admin.register(StandardChange)
class StandardChangeAdmin(ServiceAdminMixin, AuditAdmin):
    form = StandardChangeForm
    list_display = ("__str__", "note", "approved_by", "approved_at", "withdrawn_at")
    list_filter = ("withdrawn_at",)
    raw_id_fields = ("cis",)
    readonly_fields = ("approved_by", "approved_at", "template_updated_at", "withdrawn_by", "withdrawn_at",
                       "withdrawal_reason")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("template", "cis", "note", "password")
        done = ("template", "cis", "note", "approved_by", "approved_at", "template_updated_at", "withdrawn_by",
                "withdrawn_at", "withdrawal_reason")
        return done if not obj.active else done + ("reason", "password")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["template", "cis", "note"] if obj is not None else fields

    def write_check(self, request, obj=None):
        standard_changes.standard_change_check(by=request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.active)

    def perform_save(self, request, form, change):
        signature = Password(form.cleaned_data.get("password") or "")
        if change:
            return standard_changes.standard_change_withdraw(standard_change_id=form.instance.pk, by=request.user,
                                                             reason=form.cleaned_data.get("reason") or "",
                                                             signature=signature)
        return standard_changes.standard_change_approve(by=request.user, template=form.cleaned_data["template"],
                                                        cis=form.cleaned_data["cis"],
                                                        note=form.cleaned_data.get("note") or "",
                                                        signature=signature)
