"""The date range of an audit evidence export: ``from`` and ``to``, calendar
days in UTC. The page, the API and the management command share the form."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone as dt_timezone

from django import forms

MAX_RANGE_DAYS = 5 * 366  # five years, leap days included

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class IsoDateField(forms.DateField):
    """A calendar date written exactly as YYYY-MM-DD (the OpenAPI ``date``
    format): nothing the schema does not describe is accepted."""

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip()
            if value and not ISO_DATE.fullmatch(value):
                raise forms.ValidationError("Give a date as YYYY-MM-DD, e.g. 2026-01-31.", code="invalid")
            if value:
                try:
                    return date.fromisoformat(value)
                except ValueError as exc:
                    raise forms.ValidationError("This is not a date of the calendar.", code="invalid") from exc
        return super().to_python(value)


class EvidenceRangeForm(forms.Form):
    """``from`` and ``to``: calendar days in UTC, both included, at most
    ``MAX_RANGE_DAYS`` apart. The UI, the API and the command share it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the fields cannot be class attributes.
        for name, label, help_text in (("from", "From", "First day (UTC), included."),
                                       ("to", "To", "Last day (UTC), included.")):
            self.fields[name] = IsoDateField(label=label, help_text=help_text, widget=forms.DateInput(
                attrs={"type": "date"}, format="%Y-%m-%d"))

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if start and end:
            if end < start:
                self.add_error("to", "The last day must not be before the first day.")
            elif (end - start).days >= MAX_RANGE_DAYS:
                self.add_error("to", f"The range may cover at most {MAX_RANGE_DAYS} days (five years); "
                                     "export longer periods in parts.")
        return data

    def bounds(self) -> tuple[datetime, datetime]:
        """The range as UTC instants, both included. ``time.max`` rather than
        "next midnight" so 9999-12-31 does not overflow."""
        start, end = self.cleaned_data["from"], self.cleaned_data["to"]
        return (datetime.combine(start, time.min, tzinfo=dt_timezone.utc),
                datetime.combine(end, time.max, tzinfo=dt_timezone.utc))


def filename_for(start: date, end: date) -> str:
    return f"audit-evidence_{start.isoformat()}_{end.isoformat()}.csv"
