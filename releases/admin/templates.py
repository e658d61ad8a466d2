"""Release templates, with their tasks and test cases."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from releasemgmt.admin_mixins import AuditAdmin, ReadOnlyAdminMixin, ServiceAdminMixin, validation_messages

from .. import template_services
from ..models import ReleaseTemplate, TemplateTask, TemplateTestCase



class TemplateTaskInline(admin.TabularInline):
    model = TemplateTask
    extra = 1
    fields = ("title", "step", "team", "vendor", "offset_start", "offset_end", "description")


class TemplateTestCaseInline(admin.TabularInline):
    model = TemplateTestCase
    extra = 1
    fields = ("name", "mandatory", "description")


@admin.register(ReleaseTemplate)
class ReleaseTemplateAdmin(ServiceAdminMixin, AuditAdmin):
    """Release templates, kept through ``template_services``: the template's
    fields when the form is validated, its tasks and test cases (the inlines)
    as one replacement of each list afterwards."""

    list_display = ("name", "release_type", "active", "updated_at")
    list_filter = ("release_type", "active")
    search_fields = ("name", "description")
    inlines = (TemplateTaskInline, TemplateTestCaseInline)
    fields = ("name", "release_type", "description", "active", "scope", "deployment_approach", "risks", "teams",
              "downtime_expected", "notes", "rollback_plan", "created_by", "created_at", "updated_at")

    def write_check(self, request, obj=None):
        if obj is None:
            template_services.template_create_check(by=request.user)
        else:
            template_services.template_update_check(template=obj, by=request.user)

    def perform_save(self, request, form, change):
        data = form.service_data(exclude=("created_by",), changed_only=change)
        if change:
            return template_services.template_update(template_id=form.instance.pk, by=request.user, **data)
        return template_services.template_create(by=request.user, **data)

    def save_formset(self, request, form, formset, change):
        if formset.model is TemplateTask:
            key, allowed = "tasks", template_services.TASK_FIELDS
        else:
            key, allowed = "test_cases", template_services.TEST_CASE_FIELDS
        # The admin's change message reads these; the service wrote the rows.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        rows = []
        for f in formset.forms:
            data = f.cleaned_data
            if not data or data.get("DELETE"):
                continue
            row = {k: v for k, v in data.items() if k in allowed}
            if f.instance.pk:
                row["id"] = f.instance.pk
            rows.append(row)
        try:
            template_services.template_update(template_id=form.instance.pk, by=request.user, **{key: rows})
        except ValidationError as exc:
            # The inline forms validated each row; what is left (a row the
            # service refuses) undoes the whole save and says why.
            transaction.set_rollback(True)
            messages.error(request, "Not saved: " + " ".join(validation_messages(exc)))


@admin.register(TemplateTask)
class TemplateTaskAdmin(ReadOnlyAdminMixin, AuditAdmin):
    """Listed for search and history; edited on its template's page."""

    list_display = ("title", "template", "step", "team", "vendor", "offset_start", "offset_end")
    list_filter = ("template", "step")
    search_fields = ("title", "template__name")
    list_select_related = ("template", "team", "vendor")


@admin.register(TemplateTestCase)
class TemplateTestCaseAdmin(ReadOnlyAdminMixin, AuditAdmin):
    """Listed for search and history; edited on its template's page."""

    list_display = ("name", "template", "mandatory")
    list_filter = ("template", "mandatory")
    search_fields = ("name", "template__name")
    list_select_related = ("template",)
