"""Forms of the release template pages: the template's own fields and two
formsets (tasks, test cases). They only read and check input; the view hands
the rows to ``template_services``, which replaces the template's items."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django import forms

from releasemgmt.forms import IdModelChoiceField

from .choices import STEPS
from .models import ReleaseTemplate, Team, Vendor

TEXTAREA = {"rows": 3, "cols": 60}


class ReleaseTemplateForm(forms.ModelForm):
    class Meta:
        model = ReleaseTemplate
        fields = ["name", "release_type", "description", "active", "scope", "deployment_approach", "risks",
                  "teams", "downtime_expected", "notes", "rollback_plan"]
        widgets = {name: forms.Textarea(attrs=TEXTAREA) for name in
                   ("description", "scope", "deployment_approach", "risks", "teams", "notes", "rollback_plan")}
        labels = {"release_type": "Type", "scope": "Plan: scope", "deployment_approach": "Plan: deployment approach",
                  "risks": "Plan: risks", "teams": "Plan: teams", "downtime_expected": "Plan: downtime expected",
                  "notes": "Plan: notes"}

    def validate_unique(self):
        # The service checks the name's uniqueness (and everything else) when it writes.
        pass


def _hours(value: timedelta | None):
    if value is None:
        return None
    return (Decimal(value.total_seconds()) / 3600).quantize(Decimal("0.01")).normalize()


class TemplateTaskForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    title = forms.CharField(max_length=200)
    step = forms.TypedChoiceField(choices=sorted(STEPS.items()), coerce=int, initial=12)
    team = IdModelChoiceField(queryset=Team.objects.all(), required=False)
    vendor = IdModelChoiceField(queryset=Vendor.objects.all(), required=False, label="or vendor queue")
    start_hours = forms.DecimalField(max_digits=7, decimal_places=2, label="Starts (h)",
                                     help_text="Hours from the window's start; negative is before.")
    end_hours = forms.DecimalField(max_digits=7, decimal_places=2, label="Ends (h)")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 1, "cols": 30}))

    @classmethod
    def initial_for(cls, task) -> dict:
        return {"id": task.pk, "title": task.title, "step": task.step, "team": task.team_id,
                "vendor": task.vendor_id, "start_hours": _hours(task.offset_start),
                "end_hours": _hours(task.offset_end), "description": task.description}

    def clean(self):
        data = super().clean()
        if data.get("team") and data.get("vendor"):
            self.add_error("vendor", "Assign the activity to a team or to a vendor queue, not both.")
        start, end = data.get("start_hours"), data.get("end_hours")
        if start is not None and end is not None and end < start:
            self.add_error("end_hours", "The activity cannot end before it starts.")
        return data

    def row(self) -> dict:
        data = self.cleaned_data
        row = {"title": data["title"], "step": data["step"], "team": data.get("team"), "vendor": data.get("vendor"),
               "description": data.get("description", ""),
               "offset_start": timedelta(hours=float(data["start_hours"])),
               "offset_end": timedelta(hours=float(data["end_hours"]))}
        if data.get("id"):
            row["id"] = data["id"]
        return row


class TemplateTestCaseForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=200)
    mandatory = forms.BooleanField(required=False, initial=True)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 1, "cols": 30}))

    @classmethod
    def initial_for(cls, case) -> dict:
        return {"id": case.pk, "name": case.name, "mandatory": case.mandatory, "description": case.description}

    def row(self) -> dict:
        data = self.cleaned_data
        row = {"name": data["name"], "mandatory": data["mandatory"], "description": data.get("description", "")}
        if data.get("id"):
            row["id"] = data["id"]
        return row


TaskFormSet = forms.formset_factory(TemplateTaskForm, extra=2, can_delete=True)
TestCaseFormSet = forms.formset_factory(TemplateTestCaseForm, extra=2, can_delete=True)


def formset_rows(formset) -> list[dict]:
    """The rows to keep: filled-in forms not marked for deletion."""
    return [form.row() for form in formset.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]

