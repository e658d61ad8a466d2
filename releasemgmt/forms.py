"""Django form fields for ids, shared by the filters, the browser UI and the
admin: a value ``input_guard.parse_id`` refuses (a float, ``1e999``, NaN, a
number beyond the bigint range) is the form error "not a valid id" before
the database is asked. (SQLite cannot even bind a number beyond 64 bits, and
a lookup with one was a 500.)

The admin gets them for every foreign key and many-to-many field through
``AuditAdmin``; the UI's forms declare them.

Also here, below every app that signs or moves something: the password
field of a signed decision and the form of a transition's button.
"""
from __future__ import annotations

from django import forms
from django.db import models

from .input_guard import not_an_id_message, parse_id
from .signing import Password, provider_credential, signs_at_provider


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


class _SignatureBoundField(forms.BoundField):
    """The password input of a signing form is named ``password`` whatever
    the form's prefix, as a login form's is: django-axes, which keeps the
    request's fields of a failed login, masks it by that name. Its id keeps
    the prefix, so each form of a page has its own."""

    def __init__(self, form, field, name):
        super().__init__(form, field, name)
        self.html_name = "password"

    @property
    def auto_id(self):
        auto_id = self.form.auto_id
        if auto_id and "%s" in str(auto_id):
            return auto_id % self.form.add_prefix(self.name)
        return super().auto_id


class PasswordField(forms.CharField):
    """The signer's password, typed again to sign a decision. The form only
    collects it: the service checks it (``releasemgmt.signing``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Your password")
        kwargs.setdefault("help_text", "Confirm with your password: it signs this decision.")
        super().__init__(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), strip=False,
                         **kwargs)

    def get_bound_field(self, form, field_name):
        return _SignatureBoundField(form, self, field_name)


class ProviderSignatureField(forms.CharField):
    """In place of the password, for a user who signs at the identity
    provider (single sign-on): nothing to type; submitting the form sends
    them to sign in there again, and they come back to complete it."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        from django.conf import settings

        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Signature")
        kwargs.setdefault("help_text", f"You confirm this decision by signing in again at "
                                       f"{settings.SSO.display_name}.")
        super().__init__(**kwargs)

    def get_bound_field(self, form, field_name):
        return _SignatureBoundField(form, self, field_name)


def signature_field(user, **kwargs) -> forms.Field:
    """The field that signs a decision for ``user``: their password, or for a
    user who signs at the identity provider, a sign-in there."""
    return ProviderSignatureField() if signs_at_provider(user) else PasswordField(**kwargs)


class SigningFormMixin:
    """A form that may sign its decision: ``credential()`` is what the
    signer gave (the password typed, or a fresh sign-in at the identity
    provider), handed to the service, which checks it."""

    def credential(self):
        field = self.fields.get("password")
        if field is None:
            return None
        if isinstance(field, ProviderSignatureField):
            return provider_credential(self.user)
        return Password(self.cleaned_data.get("password") or "")


class TransitionForm(SigningFormMixin, forms.Form):
    """The fields one release or task transition asks for: a reason where the
    contract wants one, the password for signed decisions, a freeze override."""

    def __init__(self, *args, user, reason=False, signed=False, freeze_override=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if reason:
            self.fields["reason"] = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000,
                                                    label="Reason")
        if freeze_override:
            self.fields["freeze_override_reason"] = forms.CharField(
                required=False, max_length=2000, label="Freeze override reason",
                help_text="Emergency releases only: why the deployment may start inside a freeze window.")
        if signed:
            self.fields["password"] = signature_field(user)

    def payload(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "password" and v not in ("", None)}
