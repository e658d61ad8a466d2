"""The CMDB in and out of CSV and XLSX files: configuration items with their
versions, owners, attributes and dependencies (``releasemgmt.imports``).

A CI is named by its name, unique in the CMDB. Each row is checked as it is
read (``ci_clean``: the rules ``ci_create`` and ``ci_update`` apply, so its
errors are the row's); once every row is read and none failed, they are
written together by ``ci_bulk_save``, with their history rows, and then what
each CI depends on (a row may name a CI further down the file). The status column is a wish, met
through the CI's transitions (``ci_transition``), never written: a live CI
retires, a planned one is commissioned; a new CI is registered live (and
retired if the file says so); a status no transition reaches is the row's
error. Nothing is ever deleted.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from import_export import fields
from import_export.instance_loaders import BaseInstanceLoader

from releasemgmt.imports import JSONObject, Keyed, ServiceResource, Text, Wish, shield, where, wish
from releasemgmt.workflow import specs

from .choices import CIStatus
from .models import ConfigurationItem
from .services import ci_bulk_save, ci_clean, ci_transition

SEPARATOR = ";"
STATUSES = ", ".join(CIStatus.values)


class Status(Text):
    def clean(self, value, row=None, **kwargs):
        status = super().clean(value).lower()
        if status and status not in CIStatus.values:
            raise ValueError(f"“{status}” is not a status: {STATUSES}.")
        return status or None


class Names(Text):
    """CI names separated by ``;``, each a CI of the CMDB or of the file."""

    def clean(self, value, row=None, **kwargs):
        names = {n.strip() for n in super().clean(value).split(SEPARATOR)}
        return tuple(sorted(n for n in names if n))

    def render(self, value, obj=None, **kwargs):
        return shield(f"{SEPARATOR} ".join(value or ()))


class DependsOn(Wish):
    def clean(self, row, **kwargs):
        names = super().clean(row, **kwargs)
        known = self.resource.ci_ids
        unknown = [n for n in names if n not in known and n not in self.resource.names_in_file]
        if unknown:
            raise ValueError(f"No configuration item is named “{unknown[0]}”, in the CMDB or in this file.")
        if Text().clean(row.get("name")) in names:
            raise ValueError("A configuration item cannot depend on itself.")
        return names

    def stored(self, instance):
        if instance.pk is None:
            return ()
        current = self.resource.current_dependencies
        if current is not None:
            return current.get(instance.pk, ())
        return tuple(sorted(ci.name for ci in instance.depends_on.all()))


class ByName(BaseInstanceLoader):
    """The file's existing CIs, read in one query (by id, batched as the
    database needs)."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        ids = [resource.ci_ids[n] for n in resource.names_in_file if n in resource.ci_ids]
        self.cis = {ci.name: ci for ci in resource.get_queryset().in_bulk(ids).values()}

    def get_instance(self, row):
        return self.cis.get(Text().clean(row.get("name")))


class ConfigurationItemResource(ServiceResource):
    name = fields.Field("name", "name", widget=Text())
    ci_type = fields.Field("ci_type", "ci_type", widget=Text())
    version = fields.Field("version", "version", widget=Text())
    status = Wish("status", "status", widget=Status())
    owner = fields.Field("owner", "owner", widget=Keyed(get_user_model(), "username", noun="user"))
    depends_on = DependsOn("depends_on", "depends_on", widget=Names())
    attributes = fields.Field("attributes", "attributes", widget=JSONObject())

    service_fields = ("name", "ci_type", "version", "owner", "attributes")

    class Meta:
        model = ConfigurationItem
        name = "Configuration items"
        import_id_fields = ("name",)
        fields = ("name", "ci_type", "version", "status", "owner", "depends_on", "attributes")
        export_order = fields
        instance_loader_class = ByName
        # No savepoint per row: rows are only checked as they are read (no
        # query can fail there), and written together by ``after_import``.
        use_bulk = True

    current_dependencies = None

    def get_queryset(self):
        cis = ConfigurationItem.objects.select_related("owner")
        return cis.restrict(self.by) if self.by is not None else cis

    def filter_export(self, queryset, **kwargs):
        visible = ConfigurationItem.objects.restrict(self.by) if self.by is not None else ConfigurationItem.objects
        return queryset.select_related("owner").prefetch_related(
            Prefetch("depends_on", queryset=visible.only("id", "name")))

    # -- import: the file read once, each row checked, then all written at once --

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        self.ci_ids = dict(ConfigurationItem.objects.values_list("name", "id"))
        names = [Text().clean(n) for n in dataset["name"]] if "name" in (dataset.headers or ()) else []
        self.names_in_file = set(names)
        self.first_row = {}
        self.new, self.updated, self.changed_fields, self.moves, self.pending = [], [], set(), [], []
        through = ConfigurationItem.depends_on.through
        names_by_id = {pk: name for name, pk in self.ci_ids.items()}
        ids = {self.ci_ids[n] for n in self.names_in_file if n in self.ci_ids}
        current = {}
        for source, target in through.objects.values_list("from_configurationitem_id", "to_configurationitem_id"):
            if source in ids:
                current.setdefault(source, []).append(names_by_id[target])
        self.current_dependencies = {pk: tuple(sorted(v)) for pk, v in current.items()}

    def before_import_row(self, row, **kwargs):
        name, number = Text().clean(row.get("name")), kwargs.get("row_number")
        if name and name in self.first_row:
            raise ValidationError({"name": f"“{name}” is also on {where(self.first_row[name])}: "
                                           "give each configuration item one row."})
        self.first_row[name] = number

    def wishes_change(self, instance) -> bool:
        status, names = wish(instance, "status"), wish(instance, "depends_on")
        return ((status is not None and status != instance.status)
                or (names is not None and names != self.current_dependencies.get(instance.pk, ())))

    def write(self, instance, is_create, original):
        """Check the row now (its errors are the row's), write it with the
        others once every row is read (``after_import``)."""
        changed = {} if is_create else self.changed(instance, original)
        if is_create or changed:
            ci_clean(instance)
            (self.new if is_create else self.updated).append(instance)
            self.changed_fields.update(changed)
        status = wish(instance, "status")
        if status is not None and status != instance.status:
            self.moves.append((instance, self.transition_to(instance, status)))
        names = wish(instance, "depends_on")
        if names is not None and names != self.current_dependencies.get(instance.pk, ()):
            self.pending.append((instance, names))
        return instance

    @staticmethod
    def transition_to(ci, status: str) -> str:
        for spec in specs(ConfigurationItem, "status").values():
            if spec.target == status and ci.status in spec.sources:
                return spec.name
        raise ValidationError({"status": f"No transition takes a configuration item from {ci.status} to "
                                         f"{status}: its status changes only through its transitions."})

    def after_import(self, dataset, result, **kwargs):
        # Every row is read and none failed: write them all, then what each
        # CI depends on (a row may name a CI further down), then the states.
        if result.has_errors() or result.has_validation_errors():
            return
        ci_bulk_save(new=self.new, changed=self.updated, fields=sorted(self.changed_fields), by=self.by)
        if self.pending:
            ids = dict(ConfigurationItem.objects.values_list("name", "id"))
            ci_bulk_save(dependencies={ci.pk: [ids[n] for n in names] for ci, names in self.pending}, by=self.by)
        for ci, name in self.moves:
            ci_transition(ci_id=ci.pk, name=name, by=self.by)
