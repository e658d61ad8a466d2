"""Django admin for releases, their tasks and step records, and the audit trail.

The admin translates forms and buttons into the use cases of
``releases.services``; see ``releasemgmt.admin_mixins`` for how.
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, OuterRef, Q, Subquery
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from cmdb.models import Baseline
from releasemgmt.admin_mixins import (
    AuditAdmin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceAdminMixin,
    ServiceModelForm,
    TransitionAdminMixin,
    restricted,
    validation_messages,
)
from releasemgmt import signing
from releasemgmt.refusals import permits
from releasemgmt.workflow import TransitionError, has_any_role

from . import services, template_services
from .forms import PasswordField
from .choices import STATE_STEP, STEPS
from .models import (
    RECORD_TYPES,
    CabVote,
    CalendarToken,
    InboundDelivery,
    FreezeWindow,
    OutboxMessage,
    Release,
    ReleasePlan,
    ReleaseScopeItem,
    ReleaseTemplate,
    Task,
    Team,
    TemplateTask,
    TemplateTestCase,
    RefusedAttempt,
    Signature,
    TransitionLog,
    Vendor,
)

RM = ("release_manager",)


class NumberSearchMixin:
    """Find ``REL-00012`` (or ``RFC-12``) by its number as well as by text."""

    number_prefix = ""

    def get_search_results(self, request, queryset, search_term):
        match = re.fullmatch(rf"{self.number_prefix}-?0*(\d+)", search_term.strip(), re.IGNORECASE)
        if match and self.number_prefix:
            return queryset.filter(pk=int(match.group(1))), False
        return super().get_search_results(request, queryset, search_term)


def admin_add_url(model, **params) -> str | None:
    try:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(params)}" if params else url


# --- signatures, read from their records ------------------------------------------------


def with_signatures(queryset):
    """``queryset`` with each row's signature (signer, method, time,
    fingerprint) annotated, for a list: one query whatever its length."""
    signatures = Signature.objects.filter(content_type=ContentType.objects.get_for_model(queryset.model),
                                          object_id=OuterRef("pk"))
    return queryset.annotate(**{f"signature_{name}": Subquery(signatures.values(name)[:1])
                                for name in ("signer_username", "method", "at", "fingerprint")})


@admin.display(description="signature")
def signature_summary(model_admin, obj):
    """The signature of a signed decision, from its record: annotated on a
    list (``with_signatures``), looked up otherwise. Assigned as a method of
    the admins that show it."""
    if hasattr(obj, "signature_fingerprint"):
        signer, method, at, fingerprint = (obj.signature_signer_username, obj.signature_method, obj.signature_at,
                                           obj.signature_fingerprint)
    else:
        signature = Signature.objects.filter(content_type=ContentType.objects.get_for_model(type(obj)),
                                             object_id=obj.pk).first()
        if signature is None:
            return "—"
        signer, method, at, fingerprint = (signature.signer_username, signature.method, signature.at,
                                           signature.fingerprint)
    if not fingerprint:
        return "—"
    return format_html('Signed with {} by {} at {} <code title="SHA-256 of what was signed">{}</code>', method,
                       signer, at.strftime("%Y-%m-%d %H:%M:%S %Z"), fingerprint)


# --- inlines on the release page: cheap, read-only lists ------------------------------


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
        "start_deployment": [("freeze_override_reason", "Freeze override reason (emergency release only)")],
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
    """Freeze windows are reference data without a use case of their own:
    saved as they are (with history), with who created them."""

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

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Team)
class TeamAdmin(AuditAdmin):
    deletable = True
    list_display = ("name", "email", "member_count")
    search_fields = ("name", "email")
    filter_horizontal = ("members",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("members", distinct=True))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total


class VendorForm(forms.ModelForm):
    """No field holds the integration secret: it is generated, shown once and
    afterwards only as its fingerprint (``VendorAdmin``)."""

    integration_url = forms.URLField(required=False, assume_scheme="https",
                                     help_text="The vendor's ticketing endpoint (B2B); empty for email only.")
    generate_secret = forms.BooleanField(
        required=False, initial=True, label="Generate an integration secret",
        help_text="Shown once, after saving. The vendor's system signs its updates with it, "
                  "and we sign the tasks we send it.")

    class Meta:
        model = Vendor
        fields = ("name", "email", "users", "integration_url")


@admin.register(Vendor)
class VendorAdmin(AuditAdmin):
    """Vendors and their integration. The secret is write-only: shown once
    when generated (on creation or with the "Rotate secret" action),
    afterwards only its fingerprint, to whoever may view vendors."""

    form = VendorForm
    deletable = True
    list_display = ("name", "email", "has_integration", "secret_fingerprint", "user_count")
    search_fields = ("name", "email")
    filter_horizontal = ("users",)
    actions = ["rotate_secret", "remove_secret"]

    def get_fields(self, request, obj=None):
        fields = ["name", "email", "users", "integration_url"]
        return fields + (["generate_secret"] if obj is None else ["secret_status"])

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "secret_status"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_total=Count("users", distinct=True))

    @admin.display(description="B2B integration", boolean=True)
    def has_integration(self, obj):
        return bool(obj.integration_url)

    @admin.display(description="users", ordering="user_total")
    def user_count(self, obj):
        return obj.user_total

    @admin.display(description="integration secret")
    def secret_status(self, obj):
        if not obj.has_secret:
            return "None: the vendor's system can neither receive signed tasks nor send updates."
        text = f"Fingerprint {obj.secret_fingerprint}"
        if obj.secret_set_at:
            text += f", set {obj.secret_set_at:%Y-%m-%d %H:%M} UTC"
        if obj.previous_secret_valid_until and obj.previous_secret_valid_until > timezone.now():
            text += (f". The previous secret ({obj.previous_secret_fingerprint}) is still accepted until "
                     f"{obj.previous_secret_valid_until:%Y-%m-%d %H:%M} UTC")
        return text + ". Use the \"Rotate secret\" action of the vendor list for a new one."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and form.cleaned_data.get("generate_secret"):
            secret = services.vendor_secret_rotate(vendor_id=obj.pk, by=request.user)
            obj.refresh_from_db()
            request._new_vendor_secrets = [(obj, secret)]

    def response_add(self, request, obj, post_url_continue=None):
        shown = getattr(request, "_new_vendor_secrets", None)
        if shown:
            return self._show_secrets_once(request, shown)
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Rotate secret (the previous one stays valid for the overlap window)",
                  permissions=["change"])
    def rotate_secret(self, request, queryset):
        shown = []
        for vendor in queryset.order_by("name"):
            try:
                secret = services.vendor_secret_rotate(vendor_id=vendor.pk, by=request.user)
            except TransitionError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
                return None
            vendor.refresh_from_db()
            shown.append((vendor, secret))
        return self._show_secrets_once(request, shown)

    @admin.action(description="Remove secret (current and previous, at once)", permissions=["change"])
    def remove_secret(self, request, queryset):
        for vendor in queryset:
            try:
                services.vendor_secret_remove(vendor_id=vendor.pk, by=request.user)
            except TransitionError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
                return
        self.message_user(request, f"Removed the integration secret of {queryset.count()} vendor(s).")

    def _show_secrets_once(self, request, shown):
        """The only page that ever shows a secret: rendered in answer to the
        POST that made it, kept out of every cache, never redirected to."""
        site = settings.SITE_URL.rstrip("/")
        response = TemplateResponse(request, "admin/releases/vendor/secret_once.html", {
            **self.admin_site.each_context(request),
            "title": "New integration secrets" if len(shown) > 1 else "New integration secret",
            "opts": self.model._meta,
            "rows": [{"vendor": v, "secret": secret, "inbound_url": f"{site}/api/vendors/{v.pk}/inbound/"}
                     for v, secret in shown],
            "overlap_hours": settings.VENDOR_SECRET_OVERLAP_HOURS,
            "changelist_url": reverse("admin:releases_vendor_changelist"),
        })
        add_never_cache_headers(response)
        return response


# --- tasks ---------------------------------------------------------------------------


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


# --- step records ----------------------------------------------------------------------

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
    "deployments": ("started_at", "completed_at"),
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
    return type(f"{model.__name__}Admin", (StepRecordAdmin,), attrs)


for _type, _model in RECORD_TYPES.items():
    admin.site.register(_model, _record_admin(_type, _model))


# --- the audit trail -------------------------------------------------------------------


def change_link(content_type, object_id):
    """A link to the admin page of the row a log line is about, built from
    its content type (cached) and id: no query per row; its label alone
    where that model has no admin page."""
    label = f"{content_type.name} #{object_id}"
    try:
        url = reverse(f"admin:{content_type.app_label}_{content_type.model}_change", args=[object_id])
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


@admin.register(TransitionLog)
class TransitionLogAdmin(ReadOnlyAdminMixin, AuditAdmin):
    list_display = ("at", "subject_link", "name", "source", "target", "by", "reason", "signature")
    list_filter = ("name", "content_type", "target", "at")
    search_fields = ("name", "reason", "source", "target")
    list_select_related = ("content_type", "by")
    date_hierarchy = "at"
    readonly_fields = ("signature",)
    signature = signature_summary

    def get_queryset(self, request):
        return with_signatures(super().get_queryset(request))

    @admin.display(description="subject")
    def subject_link(self, obj):
        if obj.content_type_id is None:
            return "—"  # a refused attempt to create something
        return change_link(obj.content_type, obj.object_id)


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Signed decisions: who signed what, when, how and through which door,
    with the fingerprint of what was signed. Only ever added, never edited."""

    def get_queryset(self, request):
        return restricted(super().get_queryset(request), request)

    list_display = ("at", "signer_username", "meaning", "method", "entry_point", "decision_link", "fingerprint")
    list_filter = ("method", "entry_point", "meaning", "at")
    search_fields = ("signer_username", "meaning", "fingerprint")
    list_select_related = ("content_type",)
    date_hierarchy = "at"

    @admin.display(description="decision")
    def decision_link(self, obj):
        return change_link(obj.content_type, obj.object_id)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, AuditAdmin):
    list_display = ("created_at", "event", "release", "channel", "recipient", "subject", "status", "attempts",
                    "sent_at")
    list_filter = ("status", "channel", "event", "created_at")
    search_fields = ("recipient", "subject", "event", "dedupe_key")
    list_select_related = ("release",)
    date_hierarchy = "created_at"
    actions = ["retry_delivery"]
    exclude = ("payload",)
    readonly_fields = ("last_error",)

    @admin.action(description="Retry delivery of the selected failed messages")
    def retry_delivery(self, request, queryset):
        try:
            count = services.outbox_retry(message_ids=list(queryset.values_list("pk", flat=True)), by=request.user)
        except services.RecordRefused as exc:
            self.message_user(request, exc.detail, level="error")
            return
        self.message_user(request, f"{count} failed message(s) will be delivered again.")


@admin.register(CalendarToken)
class CalendarTokenAdmin(ReadOnlyAdminMixin, AuditAdmin):
    """Private calendar subscription tokens; the key itself is never shown."""

    list_display = ("user", "created_at")
    search_fields = ("user__username",)
    exclude = ("key",)
    list_select_related = ("user",)


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(ReadOnlyAdminMixin, AuditAdmin):
    """Signed updates received from vendors' systems, by idempotency key."""

    list_display = ("received_at", "vendor", "idempotency_key")
    list_filter = ("vendor",)
    search_fields = ("idempotency_key",)
    list_select_related = ("vendor",)


@admin.register(RefusedAttempt)
class RefusedAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Attempts refused for want of authority or by segregation of duties:
    evidence that the controls work. Only ever added, never edited."""

    def get_queryset(self, request):
        return restricted(super().get_queryset(request), request)

    list_display = ("at", "username", "action", "code", "entry_point", "subject_link", "detail")
    list_filter = ("code", "entry_point", "action", "content_type", "at")
    search_fields = ("username", "action", "detail")
    list_select_related = ("content_type",)
    date_hierarchy = "at"
    subject_link = TransitionLogAdmin.subject_link


# --- release templates ----------------------------------------------------------------


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
