"""What every ModelAdmin of the project shares.

The admin only translates: a form is turned into a call of the use case
(``record_add``, ``release_create``, ...), a button into a call of the
transition service. Nothing here writes a state field or a step record
itself, so the admin cannot skip a guard, a role check, the history or the
outbox.

* ``AuditAdmin``: a ``SimpleHistoryAdmin`` that shows only the rows the user
  may read (the model's ``restrict``, releasemgmt.authz: change lists, change
  pages and history pages alike), keeps state and audit fields read-only,
  never deletes, and never "reverts" from history (a revert would write an
  old state straight into the row, behind the state machine's back).
* ``ServiceAdminMixin``: add and change forms go through a service. The
  service is called while the form is validated, so whatever it refuses
  (``ValidationError``, ``TransitionError``) becomes a form error and nothing
  is saved; ``save_model`` then has nothing left to do. Who may add or change
  is the service module's check (``write_check``): asked quietly for what the
  admin offers, and for real (the refusal kept) when someone opens an add
  form or posts a form they may not.
* ``TransitionAdminMixin``: the change page lists the transitions of the
  current state for the current user (``workflow.available``): buttons for
  the allowed ones, blockers for the others; a button posts to
  ``<pk>/transition/<name>/``, which calls the service and reports back with a
  message, never a 500.
* ``ReadOnlyAdminMixin`` and ``ReadOnlyInline``: evidence that is shown, not
  edited (logs, outbox, captured baselines, records inside a release page).
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import router, transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from django_fsm import ConcurrentTransition, FSMFieldMixin, TransitionNotAllowed
from simple_history.admin import SimpleHistoryAdmin

from releasemgmt import refusals, signing
from releasemgmt.authz import unfiltered
from releasemgmt.forms import IdModelChoiceField, IdModelMultipleChoiceField
from releasemgmt.workflow import TransitionError, available, specs

# Fields no admin form ever writes: who created a record and when is set by
# the service, the rest by the database.
AUDIT_FIELDS = ("created_by", "created_at", "updated_at", "captured_by", "captured_at")


def state_field_names(model) -> list[str]:
    """The model's state machine fields (``FSMField``): always read-only here."""
    return [f.name for f in model._meta.concrete_fields if isinstance(f, FSMFieldMixin)]


def error_html(exc: Exception):
    """A TransitionError / ValidationError as a message a person can act on:
    the detail, then every blocker on its own line."""
    if isinstance(exc, TransitionError):
        lines = [b.message for b in exc.blockers if b.message != exc.detail]
        if not lines:
            return exc.detail
        return format_html("{}<ul>{}</ul>", exc.detail, format_html_join("", "<li>{}</li>", ((m,) for m in lines)))
    if isinstance(exc, ValidationError):
        return " ".join(validation_messages(exc))
    return str(exc)


def validation_messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        out = []
        for field, errors in exc.message_dict.items():
            prefix = "" if field == NON_FIELD_ERRORS else f"{field.replace('_', ' ')}: "
            out.extend(prefix + e for e in errors)
        return out
    return list(exc.messages)


class RestrictedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A change list's filter by a related object offers only the objects
    the user may read (another vendor is not a choice, nor its name shown)."""

    def field_choices(self, field, request, model_admin):
        choices = super().field_choices(field, request, model_admin)
        related = field.related_model._default_manager.all()
        if not hasattr(related, "restrict"):
            return choices
        visible = related.restrict(request.user)
        if unfiltered(visible):
            return choices
        ids = set(visible.values_list("pk", flat=True))
        return [(pk, label) for pk, label in choices if pk in ids]


def restricted(queryset, request):
    """``queryset`` narrowed to what the request's user may read: by the
    model's ``restrict`` (releasemgmt.authz); a model without one is shown
    to nobody but a superuser."""
    if hasattr(queryset, "restrict"):
        return queryset.restrict(request.user)
    return queryset if request.user.is_active and request.user.is_superuser else queryset.none()


class AuditAdmin(SimpleHistoryAdmin):
    """The project's base admin: only the rows the user may read, history
    visible (of those), state and audit fields read-only, nothing deleted,
    no revert from history."""

    #: Set to True on admins of plain reference data (teams, vendors, freeze
    #: windows) that may be deleted with the model's delete permission.
    deletable = False
    list_per_page = 50

    def get_queryset(self, request):
        return restricted(super().get_queryset(request), request)

    def get_field_queryset(self, db, db_field, request):
        # A form's choices of a related object: those the user may read.
        queryset = super().get_field_queryset(db, db_field, request)
        related = queryset if queryset is not None else db_field.remote_field.model._default_manager.using(db).all()
        return related.restrict(request.user) if hasattr(related, "restrict") else queryset

    def get_list_filter(self, request):
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and "__" not in entry:
                field = self.model._meta.get_field(entry)
                if field.is_relation and hasattr(field.related_model._default_manager.all(), "restrict"):
                    entry = (entry, RestrictedRelatedFieldListFilter)
            filters.append(entry)
        return filters

    def _history_visible_or_404(self, request, object_id):
        """A history page is shown where the object's page would be. The
        history of a deleted object only to whoever reads every row of
        its model (no row is left to restrict by)."""
        if self.get_object(request, unquote(object_id)) is not None:
            return
        model = self.model
        try:
            pk = model._meta.pk.to_python(unquote(object_id))
            gone = not model._base_manager.filter(pk=pk).exists()
        except (ValidationError, ValueError, TypeError):
            raise Http404 from None
        if not (gone and unfiltered(restricted(model._default_manager.all(), request))):
            raise Http404

    def history_view(self, request, object_id, extra_context=None):
        self._history_visible_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        names = {f.name for f in self.model._meta.get_fields()}
        for name in state_field_names(self.model) + [f for f in AUDIT_FIELDS if f in names]:
            if name not in fields:
                fields.append(name)
        return fields

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)

    # Relations chosen by id refuse what is not one ("not a valid id") before
    # the database is asked (releasemgmt.forms).
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", IdModelChoiceField)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", IdModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.deletable:
            actions.pop("delete_selected", None)
        return actions

    # simple_history's "revert" saves an old version of the row as it was,
    # state included: that would move a release without its transition.
    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied("History is read-only: make a change through the change page.")
        self._history_visible_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyAdminMixin:
    """Evidence: listed and viewed, never added, changed or deleted by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """A read-only list of a parent's related rows with links to their pages."""

    extra = 0
    can_delete = False
    show_change_link = True
    max_num = 0

    def get_queryset(self, request):
        return restricted(super().get_queryset(request), request)

    def get_readonly_fields(self, request, obj=None):
        # Every listed field is shown, none is a form field.
        return list(self.fields or ()) + [f for f in super().get_readonly_fields(request, obj)
                                          if f not in (self.fields or ())]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- forms that call a service -------------------------------------------------


class ServiceModelForm(forms.ModelForm):
    """A ModelForm whose validation ends by running the admin's use case.

    The service is the only writer and the only judge of what may be written
    (roles, the step being open, segregation of duties). Running it as the
    last step of validation turns its refusal into a form error and keeps the
    object unsaved; on success ``self.instance`` is the object the service
    wrote. ``ServiceAdminMixin.changeform_view`` rolls the write back if the
    page is shown again for another reason (an invalid inline formset).
    """

    service_admin = None
    service_request = None

    def _post_clean(self):
        super()._post_clean()
        if self.service_admin is None or self._errors:
            return
        change = not self.instance._state.adding
        try:
            with transaction.atomic(using=router.db_for_write(self._meta.model)):
                obj = self.service_admin.perform_save(self.service_request, self, change)
        except ValidationError as exc:
            self._add_service_errors(exc)
        except signing.SignatureError as exc:
            # The count of a wrong password went with the savepoint above.
            signing.count_failure(exc)
            self.add_error("password" if "password" in self.fields else None, exc.detail)
        except TransitionError as exc:
            # The admin's transaction around the form rolled the service's
            # record of a refusal back with it: keep it again.
            refusals.keep(exc, by=self.service_request.user)
            self.add_error(None, error_html(exc))
        except (TransitionNotAllowed, ConcurrentTransition) as exc:
            self.add_error(None, str(exc) or "The object was changed meanwhile; reload and try again.")
        else:
            if obj is not None:
                self.instance = obj
            self.service_request._admin_service_done = True

    def _add_service_errors(self, exc: ValidationError):
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.error_dict.items():
            if field in self.fields and field != NON_FIELD_ERRORS:
                self.add_error(field, errors)
            elif field == NON_FIELD_ERRORS:
                self.add_error(None, errors)
            else:
                label = field.replace("_", " ")
                self.add_error(None, [f"{label}: {m}" for e in errors for m in e.messages])

    def service_data(self, *, exclude=(), changed_only=False) -> dict:
        """The cleaned values of the form's model fields, to pass to a service."""
        names = self.changed_data if changed_only else list(self.fields)
        model_fields = {f.name for f in self._meta.model._meta.get_fields()}
        return {n: self.cleaned_data[n] for n in names
                if n in self.cleaned_data and n in model_fields and n not in exclude}


class ServiceAdminMixin:
    """Add and change through a use case; ``perform_save`` names it.

    ``perform_save(request, form, change)`` calls the service with the form's
    values (``form.service_data()``) and returns the saved object. Admins that
    leave it unimplemented save nothing: they must also deny add and change.

    ``write_check(request, obj)`` asks the service module whether the user
    may add (``obj`` None) or change ``obj``. Django's model permissions stay
    the admin's door (which pages a staff user opens at all); whether the
    user may write is the service's answer, the same in the API and the UI.
    """

    form = ServiceModelForm

    def perform_save(self, request, form, change):  # pragma: no cover - each admin says
        raise NotImplementedError

    def write_check(self, request, obj=None) -> None:
        """Call the service's check for adding (``obj`` None) or changing ``obj``."""

    def may_write(self, request, obj=None) -> bool:
        return refusals.permits(self.write_check, request, obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self.may_write(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or self.may_write(request, obj))

    def _refuse_write(self, request, object_id):
        """Opening an add form, or posting a form, that the service refuses:
        a refused attempt, kept, and the admin's 403."""
        obj = None
        if object_id is not None:
            if request.method != "POST":
                return  # a change page the user may not change is shown read-only
            obj = self.get_object(request, unquote(object_id))
            if obj is None:
                return  # Django answers for a missing object
        try:
            self.write_check(request, obj)
        except TransitionError as exc:
            if refusals.refusal_code(exc) is None:
                return
            refusals.keep(exc, by=request.user)
            raise PermissionDenied(exc.detail) from exc

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not issubclass(form, ServiceModelForm):
            return form
        return type(form.__name__, (form,), {"service_admin": self, "service_request": request})

    def save_model(self, request, obj, form, change):
        # The service saved the object while the form was validated.
        request._admin_service_saved = True

    def save_related(self, request, form, formsets, change):
        # Many-to-many fields are the service's too (e.g. a release's RFCs);
        # inline formsets are read-only lists and save nothing.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._refuse_write(request, object_id)
        with transaction.atomic(using=router.db_for_write(self.model)):
            response = self._changeform_view(request, object_id, form_url, extra_context)
            if getattr(request, "_admin_service_done", False) and not getattr(request, "_admin_service_saved", False):
                # The form passed (the service wrote) but the page is shown
                # again, e.g. for an inline's error: undo the write.
                transaction.set_rollback(True)
            return response


# --- transitions on the change page ------------------------------------------------


class TransitionAdminMixin:
    """Buttons for the transitions of the current state, and the blockers of
    the ones this user cannot take now ("what blocks the next step")."""

    change_form_template = "admin/releasemgmt/change_form.html"
    transition_field = "state"
    #: Extra inputs a transition accepts, beyond the reason: name -> [(field, label)].
    transition_inputs: dict[str, list[tuple[str, str]]] = {}

    def run_transition(self, request, obj, name: str, payload: dict):  # pragma: no cover - each admin says
        """Call the service that performs transition ``name`` on ``obj``."""
        raise NotImplementedError

    def transitions_for(self, request, obj) -> list[dict]:
        rows = available(obj, request.user, self.transition_field)
        labels = dict(self.model._meta.get_field(self.transition_field).flatchoices)
        for row in rows:
            row["target_label"] = labels.get(row["target"], row["target"])
            row["inputs"] = [{"name": n, "label": label} for n, label in self.transition_inputs.get(row["name"], ())]
            row["url"] = reverse(
                f"{self.admin_site.name}:{self._transition_url_name()}", args=[obj.pk, row["name"]]
            )
        return rows

    def _transition_url_name(self) -> str:
        opts = self.model._meta
        return f"{opts.app_label}_{opts.model_name}_transition"

    def get_urls(self):
        urls = super().get_urls()
        view = self.admin_site.admin_view(require_POST(self.transition_view))
        return [
            path("<path:object_id>/transition/<slug:name>/", view, name=self._transition_url_name()),
        ] + urls

    def transition_view(self, request, object_id, name):
        """POST only, CSRF-checked by the admin site; the service checks the role."""
        # As the admin's own pages: no permission on the model, 403 before
        # any row is looked up (a row the user may not read is then "not found").
        if not (self.has_view_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not (self.has_view_permission(request, obj) or self.has_change_permission(request, obj)):
            raise PermissionDenied
        payload = {}
        reason = request.POST.get("reason", "").strip()
        if reason:
            payload["reason"] = reason
        for field, _label in self.transition_inputs.get(name, ()):
            value = request.POST.get(field, "").strip()
            if value:
                payload[field] = value
        spec = specs(type(obj), self.transition_field).get(name)
        if spec is not None and spec.signed is not None and "password" in request.POST:
            # A signed decision's credential; the service checks it.
            payload["signature"] = signing.Password(request.POST["password"])
        change_url = reverse(
            f"{self.admin_site.name}:{self.model._meta.app_label}_{self.model._meta.model_name}_change",
            args=[obj.pk],
        )
        try:
            obj = self.run_transition(request, obj, name, payload)
        except TransitionError as exc:
            refusals.keep(exc, by=request.user)
            messages.error(request, format_html("Could not {}: {}", name.replace("_", " "), error_html(exc)))
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, format_html("Could not {}: {}", name.replace("_", " "), error_html(exc)))
        except ConcurrentTransition:
            messages.error(request, f"Could not {name.replace('_', ' ')}: the {self.model._meta.verbose_name} "
                                    "was changed meanwhile. Reload the page and try again.")
        else:
            state = getattr(obj, f"get_{self.transition_field}_display")()
            title = spec.title if spec is not None else name.replace("_", " ")
            messages.success(request, format_html("{}: {} done. It is now “{}”.", obj, title, state))
        return HttpResponseRedirect(change_url)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk and not context.get("is_popup"):
            rows = self.transitions_for(request, obj)
            context["transition_panel"] = {
                "state": getattr(obj, f"get_{self.transition_field}_display")(),
                "allowed": [r for r in rows if r["allowed"]],
                "blocked": [r for r in rows if not r["allowed"]],
                **self.transition_panel_extra(request, obj),
            }
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def transition_panel_extra(self, request, obj) -> dict:
        """More for the panel, e.g. ``{"links": [{"label", "url"}]}``: the
        records a release's open step takes."""
        return {}
