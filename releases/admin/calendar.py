"""Freeze windows and the calendar feed tokens."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count

from releasemgmt.admin_mixins import AuditAdmin, ReadOnlyAdminMixin
from releasemgmt.refusals import permits

from ..freeze_services import freeze_window_check
from ..models import CalendarToken, FreezeWindow


class FreezeWindowForm(forms.ModelForm):
    class Meta:
        model = FreezeWindow
        fields = "__all__"

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "A freeze window ends after it starts.")
        return data


@admin.register(FreezeWindow)
class FreezeWindowAdmin(AuditAdmin):
    """Freeze windows are reference data without a state machine: saved as
    they are (with history), with who created them. Who may add, change or
    delete one is the services' decision (``freeze_window_check``), the same
    as over the API."""

    form = FreezeWindowForm
    deletable = True
    list_display = ("name", "start", "end", "scope", "created_by")
    list_filter = ("start",)
    search_fields = ("name", "reason")
    list_select_related = ("created_by",)
    autocomplete_fields = ("cis",)
    date_hierarchy = "start"
    fields = ("name", "start", "end", "reason", "cis", "created_by", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ci_count=Count("cis"))

    @admin.display(description="scope", ordering="ci_count")
    def scope(self, obj):
        return f"{obj.ci_count} configuration item(s)" if obj.ci_count else "global"

    def has_add_permission(self, request):
        return permits(freeze_window_check, by=request.user)

    def has_change_permission(self, request, obj=None):
        return permits(freeze_window_check, by=request.user)

    def has_delete_permission(self, request, obj=None):
        return permits(freeze_window_check, by=request.user)

    def save_model(self, request, obj, form, change):
        freeze_window_check(by=request.user, freeze_id=obj.pk)
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        freeze_window_check(by=request.user, freeze_id=obj.pk)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        freeze_window_check(by=request.user)
        super().delete_queryset(request, queryset)


@admin.register(CalendarToken)
class CalendarTokenAdmin(ReadOnlyAdminMixin, AuditAdmin):
    """Private calendar subscription tokens; the key itself is never shown."""

    list_display = ("user", "created_at")
    search_fields = ("user__username",)
    exclude = ("key",)
    list_select_related = ("user",)
