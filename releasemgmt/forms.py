"""Django form fields for ids, shared by the filters, the browser UI and the
admin: a value ``input_guard.parse_id`` refuses (a float, ``1e999``, NaN, a
number beyond the bigint range) is the form error "not a valid id" before
the database is asked. (SQLite cannot even bind a number beyond 64 bits, and
a lookup with one was a 500.)

The admin gets them for every foreign key and many-to-many field through
``AuditAdmin``; the UI's forms declare them.
"""
from __future__ import annotations

from django import forms
from django.db import models

from .input_guard import not_an_id_message, parse_id


def _not_an_id(value) -> forms.ValidationError:
    return forms.ValidationError(not_an_id_message(value), code="invalid_id")


class IdField(forms.IntegerField):
    """An id as a whole number."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        pk = parse_id(value)
        if pk is None:
            raise _not_an_id(value)
        return pk


def _keyed_by_id(field) -> bool:
    """Whether the field's choices are given by primary key (the admin names
    the key, ``id``; a form usually leaves it unset)."""
    return field.to_field_name in (None, field.queryset.model._meta.pk.name)


def _is_id(value) -> bool:
    return isinstance(value, models.Model) or parse_id(value) is not None


class IdModelChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField keyed by id."""

    def to_python(self, value):
        if value not in self.empty_values and _keyed_by_id(self) and not _is_id(value):
            raise _not_an_id(value)
        return super().to_python(value)

    def bound_data(self, data, initial):
        # A form shown again with its errors must not look the refused value
        # up (the admin's autocomplete widget does, to draw the selection).
        if data not in self.empty_values and _keyed_by_id(self) and not _is_id(data):
            return None
        return super().bound_data(data, initial)


class IdModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField keyed by id."""

    def _check_values(self, value):
        if _keyed_by_id(self) and isinstance(value, (list, tuple)):
            for item in value:
                if not _is_id(item):
                    raise _not_an_id(item)
        return super()._check_values(value)

    def bound_data(self, data, initial):
        if _keyed_by_id(self) and isinstance(data, (list, tuple)):
            data = [item for item in data if _is_id(item)]
        return super().bound_data(data, initial)
