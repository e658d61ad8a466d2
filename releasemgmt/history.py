"""The history of an object (a release, an RFC, a task, a CI, a problem
record): the steps performed on it, as ``workflow.run_transition`` logs
them, and the changes of its rows, as django-simple-history keeps them.

``transition_logs`` gives the performed steps, for every app's pages.
``ObjectHistory`` merges the steps and the record changes of an object and
of the objects whose history is part of its own (a release's step records
and tasks), in time order, as a query that paginates: the API reads it a
page at a time, in a fixed number of queries whatever the page size.

The log and the signatures are rows of the process's own tables, which live
with the release process's models (a model stays in its app); the ground
looks them up by name, as ``workflow.run_transition`` does to write the log,
rather than importing the app that holds them."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timezone as dt_timezone

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models import F, Func, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import JSONObject
from django.utils import timezone

from .workflow import specs, state_field

LOG_MODEL = ("releases", "TransitionLog")
SIGNATURE_MODEL = ("releases", "Signature")

#: simple-history's ``history_type``, in words.
CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
TRANSITION = "transition"
CHANGE = "change"

# Fields per JSON object built in SQL: PostgreSQL before 16 builds it with a
# function call, and a function takes at most 100 arguments (50 pairs).
_JSON_CHUNK = 40


def log_model():
    return apps.get_model(*LOG_MODEL)


def logs_of(obj):
    """The log rows of ``obj``'s transitions (a query, not yet run)."""
    return log_model().objects.filter(content_type=ContentType.objects.get_for_model(type(obj)), object_id=obj.pk)


def transition_logs(obj):
    """The performed steps of one object, oldest first, each with readable
    names for the transition and the states, and the signature of each
    signed step (one query when there are any)."""
    return label_logs(list(logs_of(obj).select_related("by").order_by("at", "id")), type(obj))


def label_logs(logs: list, model=None) -> list:
    """Give each log row ``label``, ``source_label`` and ``target_label``
    (the declared names), ``spec`` (its declaration, None for a name no
    longer declared) and ``signature`` (None unless signed; one query for
    all of them). ``model``: the subject model of every row, or None for
    each row's own."""
    by_model = defaultdict(list)
    for log in logs:
        by_model[model or ContentType.objects.get_for_id(log.content_type_id).model_class()].append(log)
    signed = []
    for subject_model, rows in by_model.items():
        declared = specs(subject_model)
        states = dict(subject_model._meta.get_field(state_field(subject_model)).choices)
        for log in rows:
            log.signature = None
            log.spec = declared.get(log.name)
            log.label = log.spec.title if log.spec else log.name
            log.source_label = states.get(log.source, log.source)
            log.target_label = states.get(log.target, log.target)
            if log.spec is not None and log.spec.signed is not None:
                signed.append(log)
    apps.get_model(*SIGNATURE_MODEL).attach(signed)
    return logs


# --- an object's whole history, a page at a time -------------------------------------------


@dataclass(frozen=True)
class Part:
    """Objects whose history is part of another's: ``model`` rows pointing
    at it by the foreign key ``via`` (a release's step records, by
    ``release``), named ``name`` in the entries."""

    name: str
    model: type
    via: str


@dataclass(frozen=True)
class _Source:
    name: str
    model: type
    where: Q  # on the historical model: the rows of this source


def _has_state(model) -> bool:
    return any(f.name == state_field(model) for f in model._meta.concrete_fields)


def shown_fields(history_model) -> list:
    """The fields a change lists: those a user edits (simple-history's own
    diff compares these), without the id (the entry's ``subject_id``) and
    the time stamp every save moves."""
    return [f for f in history_model.tracked_fields
            if f.editable and not f.primary_key and not getattr(f, "auto_now", False)]


def _as_json(fields) -> JSONObject:
    """The row's values of ``fields`` as one JSON value built by the
    database (objects of at most ``_JSON_CHUNK`` fields, nested)."""
    def column(f):
        if isinstance(f, models.JSONField) and connection.vendor == "sqlite":
            # SQLite keeps JSON as text: json() embeds it as JSON, not as a string.
            return Func(F(f.attname), function="JSON", output_field=models.JSONField())
        return F(f.attname)

    chunks = [fields[i:i + _JSON_CHUNK] for i in range(0, len(fields), _JSON_CHUNK)] or [[]]
    return JSONObject(**{str(n): JSONObject(**{f.attname: column(f) for f in chunk})
                         for n, chunk in enumerate(chunks)})


def _value(field, raw):
    """A value read back from the JSON the database built, as the model
    holds it (SQLite writes date-times as text without a zone, booleans as
    0 and 1)."""
    if raw is None:
        return None
    if isinstance(field, models.DateTimeField):
        value = field.to_python(raw)
        return timezone.make_aware(value, dt_timezone.utc) if timezone.is_naive(value) else value
    if isinstance(field, (models.DateField, models.TimeField, models.DecimalField, models.DurationField)):
        return field.to_python(raw)
    if isinstance(field, models.BooleanField):
        return bool(raw)
    return raw


def _signature(signature) -> dict | None:
    """A signed decision's signature as an entry shows it (None: unsigned)."""
    if signature is None:
        return None
    return {"signer": signature.signer_id, "signer_username": signature.signer_username,
            "meaning": signature.meaning, "method": signature.method, "at": signature.at,
            "fingerprint": signature.fingerprint, "entry_point": signature.entry_point}


def _row(fields, data) -> dict:
    if data is None:
        return {}
    flat = {k: v for chunk in data.values() for k, v in chunk.items()}
    return {f.name: _value(f, flat.get(f.attname)) for f in fields}


CHANGE_COLUMNS = ("hx_m", "hx_r", "hx_o", "hx_t", "hx_kind", "hx_why", "hx_u", "hx_un", "hx_d", "hx_p", "hx_pid")


class ObjectHistory:
    """The history of the object ``model`` #``pk`` as ``user`` may read it:
    its transitions and its record changes, and those of its ``parts``
    (each narrowed by its model's ``restrict``), oldest first.

    ``keys()`` is a query of the whole history (one row per entry: time,
    source, row id) that paginates in the database; ``entries(keys)`` turns
    a page of it into entries in a few queries (the log rows, their
    signatures, the record changes with the rows before them, the
    many-to-many values of those, the signatures of signed records), the
    same whatever the page size."""

    def __init__(self, model, pk, *, name: str, user, parts: tuple[Part, ...] = ()):
        self.sources = [_Source(name, model, Q(**{model._meta.pk.attname: pk}))]
        types = ContentType.objects.get_for_models(model, *(p.model for p in parts))
        self.log_where = Q(content_type=types[model], object_id=pk)
        for part in parts:
            visible = part.model._default_manager.restrict(user).filter(**{part.via: pk}).values("pk")
            self.sources.append(_Source(part.name, part.model, Q(**{f"{part.model._meta.pk.attname}__in": visible})))
            if _has_state(part.model):
                self.log_where |= Q(content_type=types[part.model], object_id__in=visible)
        self.names = {ct.pk: name for ct, name in ((types[s.model], s.name) for s in self.sources)}

    def keys(self):
        """Every entry as (``hx_t`` time, ``hx_m`` source: 0 the log, then
        the sources in order, ``hx_r`` row id), ordered by time, source and
        id. (Prefixed names: an annotation may not take a field's name.)"""
        def keyed(qs, at, row, index):
            return (qs.order_by().annotate(hx_t=F(at), hx_m=Value(index, output_field=IntegerField()),
                                           hx_r=F(row)).values("hx_t", "hx_m", "hx_r"))

        arms = [keyed(log_model().objects.filter(self.log_where), "at", "pk", 0)]
        for index, source in enumerate(self.sources, start=1):
            arms.append(keyed(source.model.history.model.objects.filter(source.where), "history_date",
                              "history_id", index))
        return arms[0].union(*arms[1:], all=True).order_by("hx_t", "hx_m", "hx_r")

    def entries(self, keys) -> list[dict]:
        """The entries of ``keys`` (a page of ``keys()``), in their order."""
        keys = list(keys)
        logs = {}
        keys = [{"m": k["hx_m"], "r": k["hx_r"]} for k in keys]
        log_ids = [k["r"] for k in keys if k["m"] == 0]
        if log_ids:
            rows = list(log_model().objects.filter(pk__in=log_ids).select_related("by"))
            logs = {log.pk: self._transition(log) for log in label_logs(rows)}
        wanted = defaultdict(list)
        for k in keys:
            if k["m"]:
                wanted[k["m"]].append(k["r"])
        changes = self._changes(wanted) if wanted else {}
        return [logs[k["r"]] if k["m"] == 0 else changes[(k["m"], k["r"])] for k in keys]

    def _transition(self, log) -> dict:
        signature = log.signature
        declared = log.spec.fields if log.spec else ()
        return {
            "id": f"transition:{log.pk}", "kind": TRANSITION, "at": log.at,
            "actor": log.by_id, "actor_username": log.by.get_username() if log.by else None,
            "subject_type": self.names.get(log.content_type_id, ""), "subject_id": log.object_id,
            "transition": {
                "name": log.name, "label": log.label, "from": log.source, "to": log.target,
                "step": log.spec.step if log.spec else None, "reason": log.reason,
                "payload": {k: v for k, v in (log.payload or {}).items() if k in declared},
                "entry_point": signature.entry_point if signature else None,
                "signature": _signature(signature),
            },
            "change": None,
        }

    def _changes(self, wanted: dict[int, list[int]]) -> dict:
        """The record changes of ``wanted`` (source index: history ids), each
        with the fields that changed from the row before it: one query."""
        arms, fields_of = [], {}
        for index, ids in wanted.items():
            source = self.sources[index - 1]
            history = source.model.history.model
            fields_of[index] = fields = shown_fields(history)
            pk = source.model._meta.pk.attname
            before = (history.objects.filter(**{pk: OuterRef(pk)})
                      .filter(Q(history_date__lt=OuterRef("history_date"))
                              | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id")))
                      .order_by("-history_date", "-history_id"))
            arms.append(history.objects.filter(history_id__in=ids).order_by().annotate(
                hx_m=Value(index, output_field=IntegerField()), hx_r=F("history_id"), hx_o=F(pk),
                hx_t=F("history_date"), hx_kind=F("history_type"), hx_why=F("history_change_reason"),
                hx_u=F("history_user_id"), hx_un=F(f"history_user__{get_user_model().USERNAME_FIELD}"),
                hx_d=_as_json(fields),
                hx_p=Subquery(before.values(hx_j=_as_json(fields))[:1]),
                hx_pid=Subquery(before.values("history_id")[:1]),
            ).values(*CHANGE_COLUMNS))
        rows = [{name[3:]: value for name, value in row.items()}
                for row in (arms[0].union(*arms[1:], all=True) if len(arms) > 1 else arms[0])]
        related = self._many_to_many(rows)
        signatures = self._record_signatures(rows)
        out = {}
        for row in rows:
            index = row["m"]
            fields = fields_of[index]
            after = {**_row(fields, row["d"]), **related.get((index, row["r"]), {})}
            before = {**_row(fields, row["p"]), **related.get((index, row["pid"]), {})} \
                if row["pid"] is not None else None
            out[(index, row["r"])] = self._change(row, after, before)
            if row["kind"] == "+":
                out[(index, row["r"])]["change"]["signature"] = _signature(signatures.get((index, row["o"])))
        return out

    def _record_signatures(self, rows) -> dict:
        """The signatures of the signed records (a CAB vote) created in
        ``rows``, by (source, record id): one query when there are any."""
        wanted = defaultdict(set)
        for row in rows:
            if row["kind"] == "+" and getattr(self.sources[row["m"] - 1].model, "signed", False) is True:
                wanted[row["m"]].add(row["o"])
        if not wanted:
            return {}
        types = ContentType.objects.get_for_models(*(self.sources[index - 1].model for index in wanted))
        index_of = {types[self.sources[index - 1].model].pk: index for index in wanted}
        where = Q(pk__in=[])
        for index, ids in wanted.items():
            where |= Q(content_type=types[self.sources[index - 1].model], object_id__in=ids)
        return {(index_of[sig.content_type_id], sig.object_id): sig
                for sig in apps.get_model(*SIGNATURE_MODEL).objects.filter(where)}

    def _change(self, row, after: dict, before: dict | None) -> dict:
        kind = CHANGE_TYPES.get(row["kind"], row["kind"])
        if kind == "deleted":
            fields = []
        elif before is None:
            fields = [{"field": name, "from": None, "to": value} for name, value in after.items()
                      if value not in (None, "", [])]
        else:
            fields = [{"field": name, "from": before.get(name), "to": value} for name, value in after.items()
                      if before.get(name) != value]
        return {
            "id": f"{self.sources[row['m'] - 1].name}:{row['r']}", "kind": CHANGE, "at": row["t"],
            "actor": row["u"], "actor_username": row["un"],
            "subject_type": self.sources[row["m"] - 1].name, "subject_id": row["o"],
            "transition": None,
            "change": {"type": kind, "reason": row["why"] or "", "fields": fields, "signature": None},
        }

    def _many_to_many(self, rows) -> dict:
        """The values of the many-to-many fields simple-history keeps (a
        release's RFCs), per (source, history id), for the rows and the
        rows before them: one query per such field."""
        out = defaultdict(dict)
        ids = defaultdict(set)
        for row in rows:
            ids[row["m"]].update(i for i in (row["r"], row["pid"]) if i is not None)
        for index, history_ids in ids.items():
            history = self.sources[index - 1].model.history.model
            for field in history._history_m2m_fields:
                through = getattr(history, field.name).model
                column = field.m2m_reverse_field_name()
                values = defaultdict(list)
                for history_id, value in (through.objects.filter(history_id__in=history_ids)
                                          .order_by(column).values_list("history_id", column)):
                    values[history_id].append(value)
                for history_id in history_ids:
                    out[(index, history_id)][field.name] = values.get(history_id, [])
        return out
