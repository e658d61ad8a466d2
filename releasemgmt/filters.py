"""Date-time filters that never hand the database a value it rejects.

ISO 8601 allows offsets (e.g. -18:27) and years PostgreSQL refuses as a
time zone displacement; converting to UTC first makes every accepted value
a valid timestamptz, and an unrepresentable one a 400 with the reason.
"""
from datetime import timezone as dt_timezone

from django import forms
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return value
        offset = value.utcoffset()
        if offset is not None and abs(offset.total_seconds()) > 14 * 3600:
            raise forms.ValidationError("The UTC offset must be between -14:00 and +14:00.", code="invalid")
        try:
            return value.astimezone(dt_timezone.utc)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError("This date and time is out of range.", code="invalid") from exc


class UtcIsoDateTimeFilter(IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
