"""Forms of the browser UI. They only read and check input; the views hand
the cleaned data to the services, which decide and write."""
from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db import models
from django.forms.models import ModelChoiceIterator, fields_for_model
from django.utils import timezone

from changes.models import ChangeRequest
from cmdb.forms import CIField
from releasemgmt.forms import (
    IdModelChoiceField,
    IdModelMultipleChoiceField,
    PasswordField,
    SigningFormMixin,
    signature_field,
)

from .choices import STEPS, ReleaseState, ReleaseType, VoteDecision
from .models import RECORD_TYPES, Release, ReleaseTemplate, Task, Team, Vendor
from .services import RELEASE_FIELD_STATES, SERVICE_SET_BY_TYPE, SERVICE_SET_FIELDS

OPEN_RFC_STATES = ("submitted", "assessed", "authorized")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def _tidy(fields: dict) -> dict:
    """Browser widgets: a date-time picker, short text areas."""
    for f in fields.values():
        if isinstance(f, forms.DateTimeField):
            f.widget = DateTimeLocalInput()
        elif isinstance(f.widget, forms.Textarea):
            f.widget.attrs.update({"rows": 3, "cols": 60})
    return fields


def changed_values(form) -> dict:
    """What the user changed. A date-time input shows minutes, so a stored
    value with seconds is not "changed" just because the form rounded it."""
    out = {}
    for name in form.changed_data:
        value = form.cleaned_data.get(name)
        initial = form.get_initial_for_field(form.fields[name], name)
        if isinstance(form.fields[name], forms.DateTimeField) and value is not None and initial is not None:
            if initial.replace(second=0, microsecond=0) == value:
                continue
        out[name] = value
    return out


# --- releases --------------------------------------------------------------------------------


def open_rfcs():
    return ChangeRequest.objects.filter(state__in=OPEN_RFC_STATES).order_by("-pk")


# Open RFCs offered as checkboxes when raising a release. Change Management may
# have thousands waiting; a form listing them all was far too heavy. Older ones
# are tagged from their own page ("Raise a release for it"), which preselects
# them here.
RFC_CHOICES_SHOWN = 100


class _NewestRfcs(ModelChoiceIterator):
    """The newest open RFCs, and any RFC already chosen however old."""

    def __iter__(self):
        rows = list(self.queryset[:RFC_CHOICES_SHOWN])
        shown = {r.pk for r in rows}
        extra = [pk for pk in self.field.chosen if pk not in shown]
        if extra:
            rows += list(self.queryset.filter(pk__in=extra))
        for obj in rows:
            yield self.choice(obj)

    def __len__(self):
        return RFC_CHOICES_SHOWN + len(self.field.chosen)


class RfcChoiceField(IdModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple
    iterator = _NewestRfcs

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chosen: list[int] = []  # the form sets these: ids in its data or initial

    def label_from_instance(self, obj):
        return f"{obj.number} {obj.title} ({obj.get_state_display().lower()})"


class ReleaseCreateForm(forms.Form):
    title = forms.CharField(max_length=200)
    release_type = forms.ChoiceField(choices=ReleaseType.choices, label="Type", initial=ReleaseType.MINOR)
    rfcs = RfcChoiceField(queryset=ChangeRequest.objects.none(), label="RFCs",
                          help_text="The RFCs that trigger this release (one or more).")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    planned_start = forms.DateTimeField(widget=DateTimeLocalInput(), required=False)
    planned_end = forms.DateTimeField(widget=DateTimeLocalInput(), required=False)
    acceptance_criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    template = IdModelChoiceField(
        queryset=ReleaseTemplate.objects.none(), required=False, label="Template", empty_label="No template",
        help_text="Start with a template's activities (dated from the planned start), test cases, draft plan "
                  "and rollback plan. It must be for the same type of release.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rfcs"].queryset = open_rfcs()
        chosen = self.data.getlist(self.add_prefix("rfcs")) if self.is_bound else self.initial.get("rfcs") or []
        self.fields["rfcs"].chosen = [int(x) for x in chosen if str(x).isdigit() and int(x) <= 2**63 - 1]
        if open_rfcs()[RFC_CHOICES_SHOWN:RFC_CHOICES_SHOWN + 1].exists():
            self.fields["rfcs"].help_text += (
                f" The {RFC_CHOICES_SHOWN} newest open RFCs are listed; to tag an older one, open it from the "
                "RFC list and choose “Raise a release for it”.")
        self.fields["template"].queryset = ReleaseTemplate.objects.filter(active=True)
        self.fields["template"].label_from_instance = lambda t: f"{t.name} ({t.get_release_type_display().lower()})"

    def clean(self):
        # The model's rule, shown beside the form's own errors.
        data = super().clean()
        Release.check_planned_window(data.get("planned_start"), data.get("planned_end"))
        return data


class ReleaseEditForm(forms.Form):
    """The ticket's own fields; only those still open in the release's state."""

    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    acceptance_criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                                          help_text="Documented on the ticket at step 9.")
    release_type = forms.ChoiceField(choices=ReleaseType.choices, label="Type")
    rfcs = RfcChoiceField(queryset=ChangeRequest.objects.none(), label="RFCs")
    planned_start = forms.DateTimeField(widget=DateTimeLocalInput(), required=False)
    planned_end = forms.DateTimeField(widget=DateTimeLocalInput(), required=False)

    def __init__(self, *args, release, **kwargs):
        kwargs.setdefault("initial", {
            "title": release.title, "description": release.description,
            "acceptance_criteria": release.acceptance_criteria, "release_type": release.release_type,
            "rfcs": list(release.rfcs.all()), "planned_start": release.planned_start,
            "planned_end": release.planned_end,
        })
        super().__init__(*args, **kwargs)
        self.release = release
        for name in list(self.fields):
            states = RELEASE_FIELD_STATES.get(name)
            if states is not None and release.state not in states:
                del self.fields[name]
        if "rfcs" in self.fields:
            self.fields["rfcs"].queryset = (open_rfcs() | release.rfcs.all()).distinct()

    def changed_values(self) -> dict:
        return changed_values(self)


class ReleaseFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(
        attrs={"placeholder": "REL-00012, title, RFC…", "type": "search"}))
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), ("active", "Active (not closed)")]
                              + list(ReleaseState.choices))
    release_type = forms.ChoiceField(required=False, label="Type", choices=[("", "Any type")]
                                     + list(ReleaseType.choices))
    manager = IdModelChoiceField(required=False, queryset=get_user_model().objects.none(),
                                     empty_label="Any manager")
    ci = CIField(required=False, label="CI", help_text="")
    start = forms.DateField(required=False, label="From", widget=DateInput())
    end = forms.DateField(required=False, label="To", widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = get_user_model().objects.filter(
            groups__name="release_manager", is_active=True).order_by("username").distinct()
        self.fields["manager"].label_from_instance = person_label


# --- step records --------------------------------------------------------------------------------


def writable_fields(record_type: str) -> list[str]:
    """The fields a writer fills in, as ``services.record_add`` accepts them."""
    model = RECORD_TYPES[record_type]
    skip = SERVICE_SET_FIELDS | SERVICE_SET_BY_TYPE.get(record_type, set())
    return [f.name for f in model._meta.concrete_fields
            if f.editable and f.name not in skip and not isinstance(f, models.AutoField)]


class RecordForm(forms.Form):
    record_type = ""

    def __init__(self, *args, release, **kwargs):
        super().__init__(*args, **kwargs)
        self.release = release
        if "test_case" in self.fields:
            self.fields["test_case"].queryset = release.test_cases.all()
            self.fields["test_case"].label_from_instance = lambda case: case.name
        if "rfc" in self.fields:
            self.fields["rfc"].queryset = release.rfcs.all()
            self.fields["rfc"].label = "RFC"
        if "taken_at" in self.fields and not self.is_bound:
            self.initial.setdefault("taken_at", timezone.now())


_FORM_CLASSES: dict[str, type] = {}


# Asked for beside the writable columns: a communication's chosen audience.
EXTRA_FORM_FIELDS = {"communications": ["roles", "teams", "vendors"]}
# The order a record's form asks in, where the model's is not the best.
FORM_ORDER = {"communications": ["kind", "roles", "teams", "vendors", "rfc_requesters", "ci_stakeholders",
                                 "subject", "body"]}


def role_label(group) -> str:
    return group.name.replace("_", " ").capitalize()


def record_form_class(record_type: str) -> type[RecordForm]:
    if record_type not in _FORM_CLASSES:
        model = RECORD_TYPES[record_type]
        names = writable_fields(record_type) + EXTRA_FORM_FIELDS.get(record_type, [])
        fields = _tidy(fields_for_model(model, fields=FORM_ORDER.get(record_type, names)))
        for field in fields.values():
            if isinstance(field, forms.ModelMultipleChoiceField):
                field.widget = forms.CheckboxSelectMultiple()
        if "roles" in fields:
            fields["roles"].label_from_instance = role_label
        _FORM_CLASSES[record_type] = type(f"{model.__name__}Form", (RecordForm,),
                                          {**fields, "record_type": record_type})
    return _FORM_CLASSES[record_type]


def record_form(record_type, release, data=None, instance=None):
    """The add form (or, with ``instance``, the edit form) of a step record. A
    new plan version starts from the latest version's text."""
    cls = record_form_class(record_type)
    initial = {}
    if instance is not None:
        initial = {name: getattr(instance, name) for name in cls.base_fields}
    elif record_type == "plans":
        latest = release.current_plan
        if latest is not None:
            initial = {name: getattr(latest, name) for name in cls.base_fields}
    return cls(data, release=release, initial=initial, prefix=record_type)


class VoteForm(SigningFormMixin, forms.Form):
    decision = forms.ChoiceField(choices=VoteDecision.choices, widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    password = PasswordField()

    def __init__(self, *args, user, offer_approval=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["password"] = signature_field(user)
        if offer_approval:
            # This approving vote reaches the quorum, and the voter may also
            # approve the plan: one signature for both (services.cab_vote_and_approve).
            self.fields["approve_plan"] = forms.BooleanField(
                required=False, initial=True, label="Approve the plan with this vote",
                help_text="Your approving vote reaches the quorum: the plan is approved in the same signed action.")

    def clean(self):
        data = super().clean()
        if data.get("decision") == VoteDecision.REJECT and not (data.get("comment") or "").strip():
            self.add_error("comment", "Say why you reject the plan.")
        if data.get("approve_plan") and data.get("decision") != VoteDecision.APPROVE:
            self.add_error("approve_plan", "Only an approving vote approves the plan.")
        return data


# --- scope, tasks, baselines ------------------------------------------------------------------


class ScopeForm(forms.Form):
    ci = CIField(label="Configuration item", error_messages={
        "invalid_choice": "The CMDB holds no configuration item named “%(value)s”; a release changes only CIs "
                          "the CMDB holds, so it must be registered there first."})
    target_version = forms.CharField(max_length=100)


def person_label(user) -> str:
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def _user_choices():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class TaskForm(forms.Form):
    """A release activity as the release manager plans it."""

    title = forms.CharField(max_length=200)
    step = forms.TypedChoiceField(choices=sorted(STEPS.items()), coerce=int, initial=12)
    assignee_user = IdModelChoiceField(queryset=_user_choices(), required=False, label="Person")
    assignee_team = IdModelChoiceField(queryset=Team.objects.all(), required=False, label="Team")
    assignee_vendor = IdModelChoiceField(queryset=Vendor.objects.all(), required=False, label="Vendor queue")
    planned_start = forms.DateTimeField(widget=DateTimeLocalInput(), required=False)
    planned_end = forms.DateTimeField(widget=DateTimeLocalInput(), required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    vendor_ticket_ref = forms.CharField(max_length=200, required=False, label="Vendor ticket")

    def __init__(self, *args, assignee_only=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee_user"].queryset = _user_choices()
        self.fields["assignee_user"].label_from_instance = person_label
        if assignee_only:
            for name in list(self.fields):
                if name not in ("description", "vendor_ticket_ref"):
                    del self.fields[name]

    def clean(self):
        # The model's rule, shown beside the form's own errors.
        data = super().clean()
        Task.check_planned_window(data.get("planned_start"), data.get("planned_end"))
        return data


class AcceptanceForm(forms.Form):
    """The ticket's acceptance criteria, written where step 9 asks for them."""

    acceptance_criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Acceptance criteria",
                                          help_text="How the business will know the release works.")
