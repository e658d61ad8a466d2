"""Step records: one admin per kind, added and changed through the services."""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from releasemgmt import signing
from releasemgmt.admin_mixins import AuditAdmin, ServiceAdminMixin, ServiceModelForm
from releasemgmt.forms import PasswordField

from .. import services
from ..models import RECORD_TYPES
from .common import signature_summary, with_signatures


# Per record type: the columns its change list shows beside the release.
RECORD_COLUMNS = {
    "plans": ("version", "created_in_state", "deployment_start", "deployment_end", "downtime_expected"),
    "votes": ("plan", "decision"),
    "security_checks": ("passed",),
    "prerequisite_checks": ("description", "verified"),
    "test_cases": ("name", "mandatory", "deferred"),
    "test_results": ("test_case", "outcome"),
    "rollback_plans": ("verification",),
    "pre_implementation_checks": ("description", "passed"),
    "environment_readiness": ("environment", "ready"),
    "communications": ("kind", "subject", "audience", "sent_at"),
    "go_decisions": ("decision",),
    "training_plans": ("status",),
    "backups": ("location", "taken_at", "verified"),
    "deployments": ("started_at", "completed_at", "outcome", "environment"),
    "health_checks": ("passed",),
    "evaluations": ("meets_objectives",),
    "reviews": ("outcome",),
    "problem_references": ("reference",),
    "closure_comments": ("rfc",),
}
# Fields the service fills in; shown, never entered.
RECORD_SERVICE_FIELDS = {
    "plans": ("version", "created_in_state"),
    "votes": ("plan",),
    # Its audience in words and when its messages went to the outbox.
    "communications": ("audience", "sent_at"),
}
RECORD_AUTOCOMPLETE = {
    "test_results": ("test_case",),
    "closure_comments": ("rfc",),
}


class StepRecordAdmin(ServiceAdminMixin, AuditAdmin):
    """A step record: added with ``record_add`` and edited with
    ``record_update``, by a role that may, while its step is open. Evidence
    (``immutable``) is never edited; records written by a transition (Go/No-Go,
    deployment) are never added by hand."""

    record_type = ""
    list_per_page = 50

    @admin.display(description="record", ordering="pk")
    def record_label(self, obj):
        if type(obj).__str__ is not models.Model.__str__:
            return str(obj)
        return f"{obj._meta.verbose_name.capitalize()} #{obj.pk}"

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        fields += [f for f in RECORD_SERVICE_FIELDS.get(self.record_type, ()) if f not in fields]
        if obj is not None:
            # A record stays with its release (and its RFC or test case).
            fields += [f.name for f in self.model._meta.concrete_fields
                       if f.is_relation and f.name not in fields and f.editable]
            if self.model.signed:
                fields.append("signature")
        return fields

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        first = ["release"]
        last = ["created_by", "created_at", "updated_at"]
        rest = [f for f in fields if f not in first + last + ["password", "signature"]]
        if self.model.signed:
            # Added with the writer's password; shown with its signature.
            last += ["password"] if obj is None else ["signature"]
        return first + rest + last

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "password" in form.base_fields:
            form = type(form.__name__, (form,), {"password": None})  # a signed record is never re-signed
        return form

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return with_signatures(qs) if self.model.signed else qs

    def write_check(self, request, obj=None):
        services.record_writer_check(model=self.model, release=obj.release if obj is not None else None,
                                     by=request.user)

    def has_change_permission(self, request, obj=None):
        model = self.model
        if model.immutable or not model.writers:
            return False  # evidence, or written by its step's transition: shown, never edited
        return super().has_change_permission(request, obj) and (obj is None or obj.release.state in model.open_states)

    def perform_save(self, request, form, change):
        if change:
            data = form.service_data(exclude=("release",), changed_only=True)
            if not data:
                return form.instance
            return services.record_update(record=form.instance, by=request.user, **data)
        data = form.service_data(exclude=("release",))
        signature = signing.Password(form.cleaned_data.get("password") or "") if self.model.signed else None
        return services.record_add(release_id=form.cleaned_data["release"].pk, record_type=self.record_type,
                                   by=request.user, signature=signature, **data)


def _text_fields(model):
    return tuple(f.name for f in model._meta.concrete_fields
                 if isinstance(f, (models.CharField, models.TextField)) and f.editable and not f.choices)


def _filter_fields(model, columns):
    return tuple(name for name in columns
                 if isinstance(model._meta.get_field(name), models.BooleanField) or model._meta.get_field(name).choices)


class SignedRecordForm(ServiceModelForm):
    """A signed record's add form: the writer's password signs it (checked by
    ``record_add``)."""

    password = PasswordField(help_text="Confirm with your password: it signs this record.")


class CommunicationAdmin(StepRecordAdmin):
    """A communication: its audience chosen from the lists, its messages
    written to the outbox when it is added; shown with what became of them."""

    def get_queryset(self, request):
        from ..models import OutboxMessage

        return super().get_queryset(request).prefetch_related(models.Prefetch("messages", queryset=(
            OutboxMessage.objects.only("id", "content_type_id", "object_id", "recipient", "status")
            .order_by("recipient", "id"))))

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "delivery", "recipients"] if obj is not None else fields

    @admin.display(description="delivery")
    def delivery(self, obj):
        counts = obj.delivery()
        return f"{counts['delivered']} delivered, {counts['failed']} failed, {counts['pending']} on the way"

    @admin.display(description="recipients")
    def recipients(self, obj):
        return ", ".join(f"{m.recipient} ({m.get_status_display().lower()})" for m in obj.messages.all()) or "—"


def _record_admin(record_type, model):
    columns = RECORD_COLUMNS.get(record_type, ())
    fks = tuple(c for c in columns if isinstance(model._meta.get_field(c), models.ForeignKey))
    signed = ("signature",) if model.signed else ()
    attrs = {
        "__module__": __name__,
        "record_type": record_type,
        "list_display": ("record_label", "release", *columns, "created_by", "created_at", *signed),
        "list_filter": (*_filter_fields(model, columns), "release__state", "created_at"),
        "search_fields": (*_text_fields(model), "release__title"),
        "list_select_related": ("release", "created_by", *fks),
        "autocomplete_fields": ("release", *RECORD_AUTOCOMPLETE.get(record_type, ())),
        "date_hierarchy": "created_at",
    }
    if model.signed:
        attrs.update(form=SignedRecordForm, signature=signature_summary)
    if record_type == "communications":
        attrs["list_display"] = (*attrs["list_display"], "delivery")
        return type(f"{model.__name__}Admin", (CommunicationAdmin,), attrs)
    return type(f"{model.__name__}Admin", (StepRecordAdmin,), attrs)


for _type, _model in RECORD_TYPES.items():
    admin.site.register(_model, _record_admin(_type, _model))
