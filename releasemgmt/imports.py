"""Records in and out of CSV and XLSX files, with django-import-export.

A file may do what a person may do, no more: every row is written by the
model's services (``ci_create``, ``rfc_update``, a CI's transitions...),
which validate it, check who acts, keep its history and move a state only
through its transitions. What this module adds to django-import-export:

* who may import at all (``import_check``: a configuration manager, or a
  superuser), asked before a row is read, its refusal kept; each row's write
  is then checked by its service as well;
* all or nothing: the file runs in one transaction, rolled back on a dry run
  and when any row fails, a bad cell as much as a refused write (the library
  would otherwise keep the good rows of a file with invalid ones);
* cells: text a spreadsheet would run as a formula is exported behind an
  apostrophe, which import takes off again; control characters are refused
  (``input_guard``'s text rule); a related row is named by its key (a
  username, a CI's name) and looked up once per file, not once per row;
* the report: one line per row (new, updated, unchanged) and one per error,
  naming the row and its line in the file;
* a registry of the resources by name for the ``import_cmdb`` and
  ``export_cmdb`` commands, since this package imports no app.
"""
from __future__ import annotations

import json
from copy import copy

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from import_export import fields, resources, widgets
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from . import input_guard, refusals
from .admin_mixins import validation_messages
from .refusals import logs_refusals
from .workflow import TransitionError, TransitionForbidden, has_any_role

FORMATS = {"csv": CSV, "xlsx": XLSX}
IMPORTERS = ("configuration_manager",)
# What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


@logs_refusals()
def import_check(*, by) -> None:
    """Who may load records from a file: a configuration manager, the CMDB's
    keeper (a superuser holds every role)."""
    if not has_any_role(by, IMPORTERS):
        raise TransitionForbidden("import", "Only a configuration manager may import records from a file.")


def may_import(user) -> bool:
    return refusals.permits(import_check, by=user)


# --- cells ---------------------------------------------------------------------------------


def shield(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def unshield(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_PREFIXES) else text


class Text(widgets.Widget):
    """A text cell: control characters refused, a formula's start shielded.
    ``strip``: surrounding spaces are not part of the value (names, versions)."""

    def __init__(self, *, strip: bool = True):
        super().__init__()
        self.strip = strip

    def clean(self, value, row=None, **kwargs):
        if value is None:
            return ""
        text = str(value)
        input_guard.check_text(text, "The cell", body=True)
        return unshield(text.strip() if self.strip else text)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else shield(str(value))


class JSONObject(widgets.Widget):
    """A JSON object in one cell (empty: ``{}``), under the JSON input rules."""

    def clean(self, value, row=None, **kwargs):
        text = Text().clean(value)
        if not text:
            return {}
        data = input_guard.loads(text)
        if not isinstance(data, dict):
            raise ValueError("Give a JSON object, e.g. {\"site\": \"eu-1\"}.")
        return data

    def render(self, value, obj=None, **kwargs):
        return shield(json.dumps(value, sort_keys=True, ensure_ascii=False)) if value else ""


class Keyed(widgets.Widget):
    """A related row named by a unique key (a user by username), all of them
    read in one query the first time a cell needs one."""

    def __init__(self, model, key: str, *, noun: str):
        super().__init__()
        self.model, self.key, self.noun = model, key, noun
        self._rows = None

    def rows(self) -> dict:
        if self._rows is None:
            self._rows = {getattr(o, self.key): o for o in self.model._default_manager.all()}
        return self._rows

    def clean(self, value, row=None, **kwargs):
        key = Text().clean(value)
        if not key:
            return None
        found = self.rows().get(key)
        if found is None:
            raise ValueError(f"No {self.noun} is named “{key}”.")
        return found

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else shield(str(getattr(value, self.key)))


class Wish(fields.Field):
    """A column the service, not the row, applies (a state reached through a
    transition, a relation set once every row exists): import keeps the
    cleaned value on the instance as ``_wish_<attribute>``, export and the
    preview's diff read it back there, else the value as stored."""

    def save(self, instance, row, is_m2m=False, **kwargs):
        setattr(instance, f"_wish_{self.attribute}", self.clean(row, **kwargs))

    def get_value(self, instance):
        wish = getattr(instance, f"_wish_{self.attribute}", None)
        return wish if wish is not None else self.stored(instance)

    def stored(self, instance):
        return super().get_value(instance)


def wish(instance, attribute):
    return getattr(instance, f"_wish_{attribute}", None)


# --- resources -----------------------------------------------------------------------------


class ServiceResource(resources.ModelResource):
    """A resource whose rows the model's services write (``write``): the file
    as one transaction, nothing kept when any row fails or on a dry run."""

    class Meta:
        use_transactions = True
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = False

    #: The plain columns the service takes as keyword arguments, compared to
    #: decide whether a row changes anything.
    service_fields: tuple[str, ...] = ()

    def __init__(self, by=None, *, preview: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.by = by
        if not preview:  # no page shows each row's changes (a command): no HTML diff to draw
            self._meta = copy(self._meta)
            self._meta.skip_html_diff = True
        for field in self.fields.values():
            field.resource = self

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs):
        by = kwargs.get("user", self.by)
        import_check(by=by)
        self.by = by
        result = super().import_data(dataset, dry_run=dry_run, raise_errors=raise_errors, use_transactions=True,
                                     collect_failed_rows=collect_failed_rows, rollback_on_validation_errors=True,
                                     **kwargs)
        # A write a row's service refused was rolled back with the file: keep it.
        for _number, errors in result.row_errors():
            for error in errors:
                refusals.keep(error.error, by=by)
        return result

    def changed(self, instance, original) -> dict:
        """The service fields whose value the row changes."""
        return {name: getattr(instance, name) for name in self.service_fields
                if _key(getattr(instance, name)) != _key(getattr(original, name))}

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors or original is None or original.pk is None:
            return False
        return not self.changed(instance, original) and not self.wishes_change(instance)

    def wishes_change(self, instance) -> bool:
        """Whether the row asks for more than its service fields (a state, a relation)."""
        return False

    def save_instance(self, instance, is_create, row, **kwargs):
        saved = self.write(instance, is_create, self._originals.pop(id(instance), None))
        if saved.pk is not None:  # written now, not with the others at the end
            instance.pk = saved.pk
            instance._state.adding = False

    def write(self, instance, is_create, original):  # pragma: no cover - each resource says
        raise NotImplementedError

    def after_init_instance(self, instance, new, row, **kwargs):
        # The row's values go onto ``instance``; ``write`` compares them with these.
        self._originals[id(instance)] = copy(instance)

    def before_import(self, dataset, **kwargs):
        self._originals = {}

    def after_import(self, dataset, result, **kwargs):
        # Not ModelResource's, which resets the id sequence to the highest id
        # in the table as loaddata does after writing ids of its own: an
        # import never writes an id, and the reset could hand out again an
        # id that a concurrent transaction holds.
        pass

    def delete_instance(self, instance, row, **kwargs):  # pragma: no cover - for_delete is never true
        raise PermissionDenied("An import never deletes.")


def _key(value):
    return value.pk if hasattr(value, "pk") else value


# --- the report -----------------------------------------------------------------------------

KINDS = {"new": "new", "update": "updated", "skip": "unchanged"}


def where(number: int) -> str:
    """A data row and its line in the file (the header is line 1)."""
    return f"row {number} (line {number + 1})"


def error_lines(result) -> list[str]:
    """Every error of an import, each naming its row and why."""
    lines = [f"the file: {message(error.error)}" for error in result.base_errors]
    for number, errors in result.row_errors():
        lines.extend(f"{where(number)}: {message(e.error)}" for e in errors)
    for invalid in result.invalid_rows:
        for field, messages in invalid.error_dict.items():
            prefix = "" if field == NON_FIELD_ERRORS else f"{field}: "
            lines.extend(f"{where(invalid.number)}: {prefix}{m}" for m in messages)
    return sorted(lines, key=_row_order)


def message(exc: Exception) -> str:
    if isinstance(exc, TransitionError):
        return exc.detail
    if isinstance(exc, ValidationError):
        return " ".join(validation_messages(exc))
    return str(exc)


def _row_order(line: str):
    head = line.split(" ", 2)
    return (int(head[1]) if head[0] == "row" and head[1].isdigit() else 0, line)


def row_lines(result) -> list[str]:
    """What each row does (or, on a dry run, would do)."""
    return [f"{where(number)}: {KINDS[row.import_type]} {row.object_repr or ''}".rstrip()
            for number, row in enumerate(result.rows, 1) if row.import_type in KINDS]


def totals(result) -> dict[str, int]:
    return {KINDS[k]: result.totals.get(k, 0) for k in KINDS}


# --- registry, for the commands --------------------------------------------------------------

RESOURCES: dict[str, type[ServiceResource]] = {}


def register(name: str, resource_class) -> None:
    RESOURCES[name] = resource_class


# --- admin ---------------------------------------------------------------------------------


class ImportExportAdmin(ImportExportMixin):
    """Import and export buttons on a change list. Import: as ``import_check``
    allows (offered quietly, refused aloud: 403 and the refusal kept); export:
    the rows the change list shows the user, in CSV or XLSX."""

    import_formats = [CSV, XLSX]
    export_formats = [CSV, XLSX]
    import_error_display = ("message", "row")

    def has_import_permission(self, request):
        return may_import(request.user)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"by": request.user}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {"by": request.user}

    def _refuse_import(self, request):
        try:
            import_check(by=request.user)
        except TransitionError as exc:
            refusals.keep(exc, by=request.user)
            raise PermissionDenied(exc.detail) from exc

    def import_action(self, request, **kwargs):
        self._refuse_import(request)
        return super().import_action(request, **kwargs)

    def process_import(self, request, **kwargs):
        self._refuse_import(request)
        return super().process_import(request, **kwargs)
