"""Filters that never hand the database a value it rejects: the project's
FilterSet base, ids and date-times.

ISO 8601 allows offsets (e.g. -18:27) and years PostgreSQL refuses as a
time zone displacement; converting to UTC first makes every accepted value
a valid timestamptz, and an unrepresentable one a 400 with the reason. An
id is what ``input_guard.parse_id`` takes.
"""
from datetime import timezone as dt_timezone

from django import forms
from django.db import models
from django_filters import IsoDateTimeFilter, NumberFilter
from django_filters import rest_framework as drf_filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from .forms import IdField
from .input_guard import ID_SCHEMA


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


# --- ids ----------------------------------------------------------------------------------


@extend_schema_field(ID_SCHEMA)
class IdFilter(NumberFilter):
    """Filter by the id of the object itself or of a related one: 400 "not a
    valid id" for a float, ``1e999``, NaN or a number beyond the bigint
    range, where a plain NumberFilter (a decimal) handed the database
    whatever it was given (a 500 where the database refused it)."""

    field_class = IdField


class IntegerFilter(NumberFilter):
    """A whole number (a step, a count): ``1.5`` does not parse, where a
    NumberFilter took it as a decimal and compared the column with it."""

    field_class = forms.IntegerField


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (also ``1``/``0``, any case); anything else is
    an error, where django-filter's boolean widget quietly dropped it and
    the list came back unfiltered."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError("Give true or false.", code="invalid") from None


class BooleanFilter(drf_filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


class FilterSet(drf_filters.FilterSet):
    """Every FilterSet of the project. Declare id filters as ``IdFilter``;
    the ones built from ``Meta.fields`` for an id column are too. A filter
    that does not parse is a 400 in the API's error shape (the backend's
    ValidationError, shaped by ``releasemgmt.api.exception_handler``)."""

    FILTER_DEFAULTS = {
        **drf_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
        models.AutoField: {"filter_class": IdFilter},
        models.BigAutoField: {"filter_class": IdFilter},
        models.SmallIntegerField: {"filter_class": IntegerFilter},
        models.IntegerField: {"filter_class": IntegerFilter},
        models.PositiveIntegerField: {"filter_class": IntegerFilter},
        models.PositiveSmallIntegerField: {"filter_class": IntegerFilter},
    }

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and hasattr(data, "getlist"):
            # An empty value is no value (``?state=&release=`` filters
            # nothing), as for every other query parameter of the API; the
            # schema says so (``allowEmptyValue``).
            data = data.copy()
            for key in list(data):
                values = [value for value in data.getlist(key) if value != ""]
                if values:
                    data.setlist(key, values)
                else:
                    del data[key]
        super().__init__(data, *args, **kwargs)
