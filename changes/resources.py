"""RFCs in and out of CSV and XLSX files (``releasemgmt.imports``).

A row with an empty ``id`` raises a new RFC through ``rfc_create``, in the
name of its ``requester`` (the importer otherwise), who, with the importer,
then counts as its proposer for segregation of duties; it starts submitted,
waiting on change management, as any new RFC. A row with the ``id`` of an
RFC corrects it through ``rfc_update``, which only its requester or a change
manager may, and only before it is authorised. The state column is exported
for the record; an import never moves it (only the RFC's transitions do), so
a row asking for another state is refused. Nothing is ever deleted.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from import_export import fields, widgets
from import_export.instance_loaders import BaseInstanceLoader

from releasemgmt.imports import Keyed, ServiceResource, Text, Wish, wish

from .choices import RfcState
from .models import ChangeRequest
from .services import rfc_create, rfc_update


class Id(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = Text().clean(value)
        if not text:
            return None
        if not text.isdigit():
            raise ValueError(f"“{text}” is not an RFC's id: leave it empty for a new RFC.")
        return int(text)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class ById(BaseInstanceLoader):
    """The file's RFCs that the importer may read, in one query."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        self.field = resource.fields["id"]
        ids = {self.field.clean(row) for row in dataset.dict} if "id" in (dataset.headers or ()) else set()
        self.rfcs = resource.get_queryset().in_bulk(ids - {None})

    def get_instance(self, row):
        pk = self.field.clean(row) if "id" in row else None
        if pk is None:
            return None
        if pk not in self.rfcs:
            raise ValidationError({"id": f"No RFC has the id {pk}: leave it empty for a new RFC."})
        return self.rfcs[pk]


class ChangeRequestResource(ServiceResource):
    id = fields.Field("id", "id", widget=Id(), readonly=True)
    title = fields.Field("title", "title", widget=Text())
    description = fields.Field("description", "description", widget=Text(strip=False))
    requester = fields.Field("requester", "requester", widget=Keyed(get_user_model(), "username", noun="user"))
    change_type = fields.Field("change_type", "change_type", widget=Text())
    risk = fields.Field("risk", "risk", widget=Text())
    impact = fields.Field("impact", "impact", widget=Text())
    state = Wish("state", "state", widget=Text())

    service_fields = ("title", "description", "requester", "change_type", "risk", "impact")

    class Meta:
        model = ChangeRequest
        name = "RFCs"
        import_id_fields = ("id",)
        fields = ("id", "title", "description", "requester", "change_type", "risk", "impact", "state")
        export_order = fields
        instance_loader_class = ById

    def get_queryset(self):
        rfcs = ChangeRequest.objects.select_related("requester")
        return rfcs.restrict(self.by) if self.by is not None else rfcs

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("requester")

    def wishes_change(self, instance) -> bool:
        state = wish(instance, "state")
        return bool(state) and state != instance.state

    def write(self, instance, is_create, original):
        state = wish(instance, "state")
        if is_create:
            if state and state != RfcState.SUBMITTED:
                raise ValidationError({"state": "A new RFC is raised submitted; from there only its "
                                                "transitions move it."})
            # An empty requester or level: the importer, the default level.
            given = {name: getattr(instance, name) for name in ("requester", "change_type", "risk", "impact")}
            return rfc_create(by=self.by, title=instance.title, description=instance.description,
                              **{name: value for name, value in given.items() if value not in (None, "")})
        if state and state != instance.state:
            raise ValidationError({"state": f"{instance.number} is {instance.state}: an import never moves "
                                            "an RFC, only its transitions do."})
        changed = self.changed(instance, original)
        if "requester" in changed:
            raise ValidationError({"requester": f"{instance.number} stays its requester's."})
        return rfc_update(rfc_id=instance.pk, by=self.by, **changed) if changed else instance
