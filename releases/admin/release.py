"""The release ticket and its scope, with cheap read-only lists of what it holds."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q

from cmdb.models import Baseline
from releasemgmt.admin_mixins import AuditAdmin, ReadOnlyInline, ServiceAdminMixin, TransitionAdminMixin
from releasemgmt.refusals import permits
from releasemgmt.workflow import name_of

from .. import services
from ..choices import STATE_STEP, STEPS
from ..models import RECORD_TYPES, CabVote, Release, ReleasePlan, ReleaseScopeItem, Task
from .common import NumberSearchMixin, admin_add_url, signature_summary, with_signatures



class PlanInline(ReadOnlyInline):
    model = ReleasePlan
    fields = ("version", "created_in_state", "deployment_start", "deployment_end", "downtime_expected",
              "created_by", "created_at")
    verbose_name_plural = "plan versions"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")


class VoteInline(ReadOnlyInline):
    model = CabVote
    fields = ("plan", "decision", "comment", "created_by", "created_at", "signature")
    verbose_name_plural = "CAB votes"
    signature = signature_summary

    def get_queryset(self, request):
        return with_signatures(super().get_queryset(request).select_related("plan", "created_by"))


class TaskInline(ReadOnlyInline):
    model = Task
    fields = ("title", "step", "state", "assignee_label", "planned_start", "planned_end", "vendor_ticket_ref")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("assignee_user", "assignee_team", "assignee_vendor")


class ScopeInline(ReadOnlyInline):
    model = ReleaseScopeItem
    fields = ("ci", "target_version", "created_by", "created_at")
    verbose_name_plural = "scope (configuration items)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ci", "created_by")


class BaselineInline(ReadOnlyInline):
    model = Baseline
    fields = ("name", "kind", "state", "captured_by", "captured_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("captured_by")


# --- the release ticket ---------------------------------------------------------------


@admin.register(Release)
class ReleaseAdmin(NumberSearchMixin, ServiceAdminMixin, TransitionAdminMixin, AuditAdmin):
    number_prefix = "REL"
    list_display = ("number", "title", "release_type", "state", "step_display", "release_manager",
                    "planned_start", "planned_end", "updated_at")
    list_display_links = ("number", "title")
    list_filter = ("state", "release_type", ("release_manager", admin.RelatedOnlyFieldListFilter), "planned_start")
    search_fields = ("title", "description", "rfcs__title")
    list_select_related = ("release_manager",)
    date_hierarchy = "planned_start"
    autocomplete_fields = ("rfcs",)
    transition_inputs = {
        name_of(Release.start_deployment): [("freeze_override_reason", "Freeze override reason (emergency release only)")],
    }
    inlines = (PlanInline, VoteInline, TaskInline, ScopeInline, BaselineInline)
    add_fields = ("title", "release_type", "rfcs", "description", "release_manager", "planned_start", "planned_end",
                  "acceptance_criteria")
    change_fields = ("number", "title", "release_type", "state", "step_display", "rfcs", "description",
                     "release_manager", "planned_start", "planned_end", "acceptance_criteria", "approved_plan",
                     "created_at", "updated_at")

    @admin.display(description="number", ordering="pk")
    def number(self, obj):
        return obj.number

    @admin.display(description="step")
    def step_display(self, obj):
        step = STATE_STEP.get(obj.state)
        return f"{step}. {STEPS[step]}" if step else "—"

    def get_fields(self, request, obj=None):
        return self.change_fields if obj else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj)) + ["number", "step_display", "approved_plan"]
        if obj is not None:
            # The manager is chosen when the ticket is raised; the window,
            # type and RFCs are fixed once packaging has started.
            fields.append("release_manager")
            if obj.state not in services.EDITABLE_RELEASE_STATES:
                fields += ["planned_start", "planned_end", "release_type", "rfcs"]
        return fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("release_manager", request.user.pk)
        return initial

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "release_manager":
            kwargs["queryset"] = get_user_model().objects.filter(
                Q(groups__name="release_manager") | Q(is_superuser=True), is_active=True
            ).distinct().order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "rfcs":
            field.required = True
        return field

    def write_check(self, request, obj=None):
        if obj is None:
            services.release_create_check(by=request.user)
        else:
            services.release_update_check(release=obj, by=request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.state not in ("closed", "cancelled"))

    def perform_save(self, request, form, change):
        if change:
            data = form.service_data(changed_only=True)
            if not data:
                return form.instance
            return services.release_update(release_id=form.instance.pk, by=request.user, **data)
        data = form.service_data()
        return services.release_create(by=request.user, **data)

    def run_transition(self, request, obj, name, payload):
        return services.release_transition(release_id=obj.pk, name=name, by=request.user, **payload)

    def transition_panel_extra(self, request, obj):
        """Links to add the records the open step takes, for this user."""
        user, links = request.user, []
        for model in RECORD_TYPES.values():
            if obj.state in model.open_states and permits(services.record_writer_check, model=model, release=obj,
                                                          by=user):
                url = admin_add_url(model, release=obj.pk)
                if url and user.has_perm(f"releases.add_{model._meta.model_name}"):
                    links.append({"label": str(model._meta.verbose_name).capitalize(), "url": url})
        if (obj.state in services.TASK_EDITABLE and permits(services.task_create_check, by=user)
                and user.has_perm("releases.add_task")):
            links.append({"label": "Task", "url": admin_add_url(Task, release=obj.pk)})
        if (obj.state in services.EDITABLE_RELEASE_STATES and permits(services.scope_check, release=obj, by=user)
                and user.has_perm("releases.add_releasescopeitem")):
            links.append({"label": "Scope item", "url": admin_add_url(ReleaseScopeItem, release=obj.pk)})
        if (obj.state in ("packaging", "building") and obj.pre_release_baseline is None
                and permits(services.release_baseline_check, release=obj, by=user)
                and user.has_perm("cmdb.add_baseline")):
            url = admin_add_url(Baseline, release=obj.pk, kind="pre_release")
            if url:
                links.append({"label": "Pre-release baseline", "url": url})
        step = STATE_STEP.get(obj.state)
        return {"links": links, "step": step, "step_title": STEPS.get(step, "")}


@admin.register(ReleaseScopeItem)
class ReleaseScopeItemAdmin(ServiceAdminMixin, AuditAdmin):
    list_display = ("ci", "target_version", "release", "created_by", "created_at")
    list_filter = ("release__state",)
    search_fields = ("ci__name", "target_version", "release__title")
    list_select_related = ("ci", "release", "created_by")
    autocomplete_fields = ("release", "ci")
    fields = ("release", "ci", "target_version", "created_by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["release", "ci"] if obj is not None else fields

    def write_check(self, request, obj=None):
        services.scope_check(release=obj.release if obj is not None else None, by=request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or obj.release.state in services.EDITABLE_RELEASE_STATES)

    def perform_save(self, request, form, change):
        release_id = form.instance.release_id if change else form.cleaned_data["release"].pk
        ci = form.instance.ci if change else form.cleaned_data["ci"]
        return services.scope_set(release_id=release_id, ci=ci, target_version=form.cleaned_data["target_version"],
                                  by=request.user)
