"""Tasks, changed through their transitions."""

from __future__ import annotations

from django.contrib import admin

from releasemgmt.admin_mixins import AuditAdmin, ServiceAdminMixin, TransitionAdminMixin
from releasemgmt.workflow import has_any_role

from .. import services
from ..models import Task
from .common import RM



@admin.register(Task)
class TaskAdmin(ServiceAdminMixin, TransitionAdminMixin, AuditAdmin):
    list_display = ("title", "release", "step", "state", "assignee_label", "planned_start", "planned_end",
                    "vendor_ticket_ref")
    list_filter = ("state", "step", "assignee_team", "assignee_vendor", "release__state")
    search_fields = ("title", "description", "vendor_ticket_ref", "release__title")
    list_select_related = ("release", "assignee_user", "assignee_team", "assignee_vendor")
    autocomplete_fields = ("release",)
    fields = ("release", "title", "description", "step", "state", "assignee_user", "assignee_team",
              "assignee_vendor", "planned_start", "planned_end", "vendor_ticket_ref", "created_at", "updated_at")
    # What an assignee who is not a release manager may edit (task_update keeps the rest).
    assignee_fields = ("description", "vendor_ticket_ref")

    @admin.display(description="assignee")
    def assignee_label(self, obj):
        return obj.assignee_label

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("release")
            if not has_any_role(request.user, RM):
                fields += [f for f in self.fields if f not in self.assignee_fields and f not in fields]
        return fields

    def write_check(self, request, obj=None):
        if obj is None:
            services.task_create_check(by=request.user)
        else:
            services.task_update_check(task=obj, by=request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.state not in ("done", "cancelled"))

    def perform_save(self, request, form, change):
        if change:
            data = form.service_data(exclude=("release",), changed_only=True)
            if not data:
                return form.instance
            return services.task_update(task_id=form.instance.pk, by=request.user, **data)
        data = form.service_data(exclude=("release",))
        return services.task_create(release_id=form.cleaned_data["release"].pk, by=request.user, **data)

    def run_transition(self, request, obj, name, payload):
        return services.task_transition(task_id=obj.pk, name=name, by=request.user, **payload)
