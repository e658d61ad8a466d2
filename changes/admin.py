"""Django admin for RFCs: raised through ``rfc_create``, corrected through
``rfc_update`` (by its requester or a change manager, until it is authorised),
moved by ``rfc_transition``."""
from __future__ import annotations

import re

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from releasemgmt.admin_mixins import AuditAdmin, ServiceAdminMixin, TransitionAdminMixin
from releasemgmt.imports import ImportExportAdmin
from .models import ChangeRequest, Problem
from .resources import ChangeRequestResource
from .services import (
    EDITABLE_STATES,
    problem_create_from_release,
    problem_open_check,
    problem_transition,
    problem_update,
    problem_update_check,
    rfc_create,
    rfc_create_check,
    rfc_transition,
    rfc_update,
    rfc_update_check,
)

# RFCs that release_create refuses.
UNRELEASABLE = ("rejected", "cancelled", "closed", "failed")


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ImportExportAdmin, ServiceAdminMixin, TransitionAdminMixin, AuditAdmin):
    resource_classes = [ChangeRequestResource]  # Import and Export buttons: CSV and XLSX
    list_display = ("number", "title", "requester", "change_type", "risk", "impact", "state", "created_at")
    list_display_links = ("number", "title")
    list_filter = ("state", "change_type", "risk", "impact", "created_at")
    search_fields = ("title", "description", "requester__username", "requester__last_name")
    list_select_related = ("requester",)
    date_hierarchy = "created_at"
    add_fields = ("title", "description", "requester", "change_type", "risk", "impact")
    view_fields = ("number", "title", "description", "requester", "raised_by", "change_type", "risk", "impact",
                   "state", "release_links", "closure_comments", "created_at", "updated_at")

    @admin.display(description="number", ordering="pk")
    def number(self, obj):
        return obj.number

    @admin.display(description="releases")
    def release_links(self, obj):
        rows = [(reverse("admin:releases_release_change", args=[r.pk]), str(r), r.get_state_display())
                for r in obj.releases.all()]
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a> ({})', rows)

    def get_search_results(self, request, queryset, search_term):
        source = (request.GET.get("app_label"), request.GET.get("model_name"), request.GET.get("field_name"))
        if source == ("releases", "release", "rfcs"):
            # Tagging a release: offer only RFCs that can still be released.
            queryset = queryset.exclude(state__in=UNRELEASABLE)
        match = re.fullmatch(r"RFC-?0*(\d+)", search_term.strip(), re.IGNORECASE)
        if match:
            return queryset.filter(pk=int(match.group(1))), False
        return super().get_search_results(request, queryset, search_term)

    def get_fields(self, request, obj=None):
        return self.view_fields if obj else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj)) + ["number", "raised_by", "release_links",
                                                                    "closure_comments"]
        if obj is not None:
            fields.append("requester")  # an RFC stays its requester's
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "requester":
            field.required = False
            field.help_text = ("Leave empty to raise the RFC in your own name. Raising it in someone else's name, "
                               "you count as its requester too: you will not assess, authorise or approve it.")
        return field

    def write_check(self, request, obj=None):
        if obj is None:
            rfc_create_check(by=request.user)
        else:
            rfc_update_check(rfc=obj, by=request.user)

    def has_change_permission(self, request, obj=None):
        # rfc_update: until it is authorised.
        return super().has_change_permission(request, obj) and (obj is None or obj.state in EDITABLE_STATES)

    def perform_save(self, request, form, change):
        if change:
            data = form.service_data(exclude=("requester",), changed_only=True)
            if not data:
                return form.instance
            return rfc_update(rfc_id=form.instance.pk, by=request.user, **data)
        data = form.service_data()
        if not data.get("requester"):
            data.pop("requester", None)
        return rfc_create(by=request.user, **data)

    def run_transition(self, request, obj, name, payload):
        return rfc_transition(rfc_id=obj.pk, name=name, by=request.user, **payload)

    def response_add(self, request, obj, post_url_continue=None):
        # The RFC's page holds its next steps (assess, authorise): go there.
        if "_addanother" not in request.POST and "_popup" not in request.POST:
            messages.success(request, format_html("{} was raised.", obj))
            return HttpResponseRedirect(reverse("admin:changes_changerequest_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)


# --- problem records --------------------------------------------------------------------


@admin.register(Problem)
class ProblemAdmin(ServiceAdminMixin, TransitionAdminMixin, AuditAdmin):
    """Problem records: opened with ``problem_create_from_release`` (a
    rolled-back release), edited with ``problem_update``, moved by
    ``problem_transition``."""

    list_display = ("number", "title", "release", "state", "created_by", "created_at")
    list_display_links = ("number", "title")
    list_filter = ("state", "created_at")
    search_fields = ("title", "description", "root_cause")
    list_select_related = ("release", "created_by")
    autocomplete_fields = ("release",)
    add_fields = ("release", "title", "description")
    change_fields = ("number", "release", "title", "description", "state", "root_cause", "corrective_actions",
                     "rfcs", "timeline", "created_by", "created_at", "updated_at")

    @admin.display(description="number", ordering="pk")
    def number(self, obj):
        return obj.number

    def get_fields(self, request, obj=None):
        return self.change_fields if obj else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj)) + ["number"]
        if obj is not None:
            fields += ["release", "rfcs", "timeline"]
        return fields

    def write_check(self, request, obj=None):
        if obj is None:
            problem_open_check(by=request.user)
        else:
            problem_update_check(problem=obj, by=request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.state != Problem.State.CLOSED)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "title" in form.base_fields and obj is None:
            form.base_fields["title"].required = False
            form.base_fields["title"].help_text = "Leave empty for “Rollback of <release>”."
        return form

    def perform_save(self, request, form, change):
        if change:
            data = form.service_data(changed_only=True)
            return problem_update(problem_id=form.instance.pk, by=request.user, **data) if data else form.instance
        data = form.service_data(exclude=("release",))
        return problem_create_from_release(release_id=form.cleaned_data["release"].pk, by=request.user, **data)

    def run_transition(self, request, obj, name, payload):
        return problem_transition(problem_id=obj.pk, name=name, by=request.user, **payload)
