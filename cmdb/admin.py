"""Django admin for the CMDB: configuration items and baselines.

A CI is registered with ``ci_create``, corrected with ``ci_update`` and
moves (commission, retire) with ``ci_transition``. A baseline is captured by
``baseline_capture`` (or, as a release's restore point, by
``release_capture_baseline``) and is never edited afterwards; archiving it is
its one transition. CIs are imported from and exported to CSV and XLSX files
(cmdb.resources) with the change list's Import and Export buttons.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from releasemgmt.admin_mixins import (
    AuditAdmin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceAdminMixin,
    ServiceModelForm,
    TransitionAdminMixin,
)
from releasemgmt.forms import IdModelMultipleChoiceField
from releasemgmt.imports import ImportExportAdmin

from .choices import BaselineKind
from .models import Baseline, BaselineItem, ConfigurationItem
from .resources import ConfigurationItemResource
from .services import (
    baseline_capture,
    baseline_capture_check,
    baseline_transition,
    ci_create,
    ci_create_check,
    ci_transition,
    ci_update,
    ci_update_check,
    release_baseline_capture,
)


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(ImportExportAdmin, ServiceAdminMixin, TransitionAdminMixin, AuditAdmin):
    resource_classes = [ConfigurationItemResource]
    transition_field = "status"
    list_display = ("name", "ci_type", "version", "status", "owner", "dependency_count", "updated_at")
    list_filter = ("ci_type", "status")
    search_fields = ("name", "version")
    list_select_related = ("owner",)
    autocomplete_fields = ("depends_on",)
    fields = ("name", "ci_type", "version", "status", "owner", "depends_on", "attributes", "created_at",
              "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(dependency_total=Count("depends_on", distinct=True))

    @admin.display(description="depends on", ordering="dependency_total")
    def dependency_count(self, obj):
        return getattr(obj, "dependency_total", None)

    def write_check(self, request, obj=None):
        if obj is None:
            ci_create_check(by=request.user)
        else:
            ci_update_check(ci=obj, by=request.user)

    def perform_save(self, request, form, change):
        if change:
            data = form.service_data(changed_only=True)
            if not data:
                return form.instance
            return ci_update(ci_id=form.instance.pk, by=request.user, **data)
        return ci_create(by=request.user, **form.service_data())

    def run_transition(self, request, obj, name, payload):
        return ci_transition(ci_id=obj.pk, name=name, by=request.user, **payload)


class BaselineItemInline(ReadOnlyInline):
    model = BaselineItem
    fields = ("ci", "name", "version", "status")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ci")


class BaselineForm(ServiceModelForm):
    """Capture: which CIs to snapshot (a pre-release baseline takes the release's scope)."""

    cis = IdModelMultipleChoiceField(
        queryset=ConfigurationItem.objects.order_by("name"), required=False, label="configuration items",
        widget=FilteredSelectMultiple("configuration items", is_stacked=False),
        help_text="For a manual baseline. A pre-release baseline snapshots the release's scope.",
    )

    class Meta:
        model = Baseline
        fields = ("name", "kind", "release", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            # Post-release and restored baselines are captured by closing a release.
            self.fields["kind"].choices = [(k, label) for k, label in BaselineKind.choices
                                           if k in (BaselineKind.MANUAL, BaselineKind.PRE_RELEASE)]
        if "name" in self.fields:
            self.fields["name"].required = False
            self.fields["name"].help_text = "A pre-release baseline is named after its release."

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == BaselineKind.PRE_RELEASE and not data.get("release"):
            self.add_error("release", "A pre-release baseline belongs to a release.")
        if kind == BaselineKind.MANUAL:
            if not data.get("name"):
                self.add_error("name", "Name the baseline.")
            if not data.get("cis"):
                self.add_error("cis", "Choose the configuration items to snapshot.")
        return data


@admin.register(Baseline)
class BaselineAdmin(ServiceAdminMixin, TransitionAdminMixin, AuditAdmin):
    form = BaselineForm
    list_display = ("name", "kind", "state", "release", "item_count", "captured_by", "captured_at")
    list_filter = ("kind", "state", "captured_at")
    search_fields = ("name", "description", "release__title")
    list_select_related = ("release", "captured_by")
    autocomplete_fields = ("release",)
    date_hierarchy = "created_at"
    add_fields = ("name", "kind", "release", "description", "cis")
    view_fields = ("name", "kind", "state", "release", "description", "captured_by", "captured_at", "created_at")
    inlines = (BaselineItemInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_total=Count("items"))

    @admin.display(description="items", ordering="item_total")
    def item_count(self, obj):
        return getattr(obj, "item_total", None)

    def get_fields(self, request, obj=None):
        return self.view_fields if obj else self.add_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def write_check(self, request, obj=None):
        if obj is None:  # a captured baseline is never changed (below)
            baseline_capture_check(by=request.user)

    def has_change_permission(self, request, obj=None):
        # A captured baseline is evidence: it never changes (archive is a transition).
        return False

    def perform_save(self, request, form, change):
        data = form.cleaned_data
        if data["kind"] == BaselineKind.PRE_RELEASE:
            return release_baseline_capture(release_id=data["release"].pk, by=request.user)
        return baseline_capture(cis=list(data["cis"]), name=data["name"], kind=data["kind"],
                                release=data.get("release"), description=data.get("description", ""),
                                by=request.user)

    def run_transition(self, request, obj, name, payload):
        return baseline_transition(baseline_id=obj.pk, name=name, by=request.user, **payload)

    def response_add(self, request, obj, post_url_continue=None):
        # The page of a captured baseline is read-only; show it with its items.
        if "_addanother" not in request.POST and "_popup" not in request.POST:
            messages.success(request, format_html("Baseline “{}” was captured.", obj))
            return HttpResponseRedirect(reverse("admin:cmdb_baseline_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)


@admin.register(BaselineItem)
class BaselineItemAdmin(ReadOnlyAdminMixin, AuditAdmin):
    list_display = ("name", "version", "status", "baseline", "ci")
    list_filter = ("status", "baseline__kind")
    search_fields = ("name", "version", "baseline__name")
    list_select_related = ("baseline", "ci")
