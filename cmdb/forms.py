"""Form fields for choosing configuration items and baselines in the browser."""
from __future__ import annotations

from django import forms

from releasemgmt.forms import IdModelChoiceField
from releasemgmt.input_guard import parse_id

from .models import Baseline, ConfigurationItem

# A CMDB of this size or less is offered as suggestions under the box (an
# HTML datalist); a larger one is typed by name. A CMDB holds tens of
# thousands of CIs, and a dropdown listing them all made every page with a
# CI filter or the scope form megabytes long and seconds to draw.
CI_SUGGESTIONS = 200


class CIInput(forms.TextInput):
    """A text box for a CI's name, with the CMDB's names as suggestions while
    it is small enough to list."""

    template_name = "cmdb/widgets/ci_input.html"

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.suggest_from = None

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if self.suggest_from is not None:
            names = list(self.suggest_from.order_by("name").values_list("name", flat=True)[:CI_SUGGESTIONS + 1])
            if len(names) <= CI_SUGGESTIONS:
                list_id = f"{context['widget']['attrs'].get('id') or name}_suggestions"
                context["widget"]["attrs"]["list"] = list_id
                context["widget"]["suggestions"] = {"id": list_id, "names": names}
        return context


class CIField(forms.ModelChoiceField):
    """A configuration item given by its name (as people type it) or its id
    (as links and integrations send it)."""

    widget = CIInput
    default_error_messages = {
        "invalid_choice": "No configuration item has the name or id “%(value)s”.",
    }

    def __init__(self, queryset=None, **kwargs):
        kwargs.setdefault("help_text", "Its name, as the CMDB lists it.")
        super().__init__(ConfigurationItem.objects.all() if queryset is None else queryset,
                         to_field_name="name", **kwargs)

    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)
        self.widget.suggest_from = self.queryset

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, ConfigurationItem):
            return value
        raw = str(value).strip()
        found = None
        if (pk := parse_id(raw)) is not None:
            found = self.queryset.filter(pk=pk).first()
        if found is None:
            found = self.queryset.filter(name=raw).first()
        if found is None:
            matches = list(self.queryset.filter(name__iexact=raw)[:2])
            found = matches[0] if len(matches) == 1 else None
        if found is None:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                        params={"value": raw})
        return found


class BaselineCompareForm(forms.Form):
    against = IdModelChoiceField(queryset=Baseline.objects.none(), label="Compare with", required=False,
                                 empty_label="Choose a baseline")

    def __init__(self, *args, baseline, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["against"].queryset = Baseline.objects.exclude(pk=baseline.pk).order_by("-created_at", "-id")
