from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from changes.models import ChangeRequest
from cmdb.models import ConfigurationItem
from releasemgmt.api import IdRelatedField, ModelSerializer, signature_field

from ..choices import STATE_STEP
from ..models import RECORD_TYPES, Release, ReleaseScopeItem, ReleaseTemplate, Task, Team, Vendor
from ..models.records import AUDIENCE_ROLES
from ..services import SERVICE_SET_BY_TYPE, SERVICE_SET_FIELDS, record_writable

User = get_user_model()


# What a release's representation reads, as plain row values. The list reads
# these with ``.values()`` and the serializer below from an instance, and both
# go through ``release_representation``: one output format, and the list pays
# neither a model instance (with the state machine's per-instance set-up) nor
# DRF's field-by-field work per row, which were most of its CPU
# (bench/README.md).
RELEASE_ROW_FIELDS = ("id", "title", "description", "release_type", "state", "release_manager_id", "planned_start",
                      "planned_end", "acceptance_criteria", "approved_plan_id", "template_id", "created_at",
                      "updated_at")


def _iso(value, tz):
    """A date-time as DRF's DateTimeField writes it (ISO 8601 in the current
    time zone, UTC as ``Z``)."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def release_representation(row, rfc_ids: list[int], tz=None) -> dict:
    """A release as the API shows it, from a row of ``RELEASE_ROW_FIELDS``
    and the ids of its RFCs (in the RFCs' own ordering)."""
    tz = tz or timezone.get_current_timezone()
    pk = row["id"]
    return {
        "id": pk, "number": f"REL-{pk:05d}", "title": row["title"], "description": row["description"],
        "release_type": row["release_type"], "state": row["state"], "step": STATE_STEP.get(row["state"]),
        "release_manager": row["release_manager_id"], "rfcs": rfc_ids,
        "planned_start": _iso(row["planned_start"], tz), "planned_end": _iso(row["planned_end"], tz),
        "acceptance_criteria": row["acceptance_criteria"], "approved_plan": row["approved_plan_id"],
        "template": row["template_id"], "created_at": _iso(row["created_at"], tz),
        "updated_at": _iso(row["updated_at"], tz),
    }


def rfc_ids_by_release(release_ids) -> dict[int, list[int]]:
    """The RFC ids of each release, in one query, ordered as the RFCs are."""
    out: dict[int, list[int]] = {pk: [] for pk in release_ids}
    links = (Release.rfcs.through.objects.filter(release_id__in=release_ids)
             .order_by(*(f"{'-' if f.startswith('-') else ''}changerequest__{f.lstrip('-')}"
                         for f in ChangeRequest._meta.ordering))
             .values_list("release_id", "changerequest_id"))
    for release_id, rfc_id in links:
        out[release_id].append(rfc_id)
    return out


def release_rows_data(rows) -> list[dict]:
    """The API representation of release rows read with ``RELEASE_ROW_FIELDS``."""
    rows = list(rows)
    rfcs = rfc_ids_by_release([r["id"] for r in rows]) if rows else {}
    tz = timezone.get_current_timezone()
    return [release_representation(r, rfcs[r["id"]], tz) for r in rows]


class ReleaseSerializer(ModelSerializer):
    number = serializers.CharField(read_only=True)
    step = serializers.SerializerMethodField()
    # An empty list is the service's to refuse, in the words every entry point uses.
    rfcs = IdRelatedField(many=True, queryset=ChangeRequest.objects.all(),
                          help_text="The RFCs that triggered the release (at least one).")
    release_manager = IdRelatedField(
        queryset=User.objects.filter(Q(groups__name="release_manager") | Q(is_superuser=True), is_active=True)
        .distinct(),
        required=False, help_text="A user in the release_manager role; defaults to whoever raises the ticket.")
    template = IdRelatedField(
        queryset=ReleaseTemplate.objects.all(), required=False, allow_null=True,
        help_text="On create: an active release template of the same type; the release starts with its tasks "
                  "(dated from planned_start), test cases and draft plan, and gets its rollback plan when "
                  "planning starts. Fixed afterwards.")

    class Meta:
        model = Release
        fields = ["id", "number", "title", "description", "release_type", "state", "step", "release_manager",
                  "rfcs", "planned_start", "planned_end", "acceptance_criteria", "approved_plan", "template",
                  "created_at", "updated_at"]
        read_only_fields = ["state", "approved_plan", "created_at", "updated_at"]
        # The contract: a release is raised with a title, a type and its RFCs.
        extra_kwargs = {"release_type": {"required": True}}

    def get_step(self, obj) -> int | None:
        return STATE_STEP.get(obj.state)

    def to_representation(self, instance):
        # The declared fields above stay the contract (schema, validation);
        # the output is built once, in release_representation.
        return release_representation({f: getattr(instance, f) for f in RELEASE_ROW_FIELDS},
                                      [rfc.pk for rfc in instance.rfcs.all()])

    def validate(self, attrs):
        # The planned window and the RFCs are checked by the model and the
        # service, in the same words for every entry point.
        if self.instance is not None and "template" in attrs:
            # A PUT may send back what it read; only a change is refused.
            if attrs.pop("template") != self.instance.template:
                raise serializers.ValidationError({"template": "The template is chosen when the release is raised."})
        return attrs


class ScopeItemSerializer(ModelSerializer):
    ci = IdRelatedField(queryset=ConfigurationItem.objects.all(), error_messages={
        "does_not_exist": "The CMDB holds no configuration item with id {pk_value}; a release changes only CIs the "
                          "CMDB holds: a configuration manager registers it first (POST /api/cis/)."})
    ci_name = serializers.CharField(source="ci.name", read_only=True)
    current_version = serializers.CharField(source="ci.version", read_only=True)

    class Meta:
        model = ReleaseScopeItem
        fields = ["id", "ci", "ci_name", "current_version", "target_version", "created_at"]
        read_only_fields = ["created_at"]
        validators = []  # (release, ci) uniqueness: setting a CI again updates its target version
        extra_kwargs = {"target_version": {"required": True, "allow_blank": False}}

    def validate_target_version(self, value):
        if not value.strip():
            raise serializers.ValidationError("A target version is required.")
        return value


# A task's representation from plain row values, for the list (as for
# releases, above) and the serializer alike.
TASK_ROW_FIELDS = ("id", "release_id", "title", "description", "step", "assignee_user_id", "assignee_team_id",
                   "assignee_vendor_id", "planned_start", "planned_end", "vendor_ticket_ref", "state", "created_at",
                   "updated_at")


def task_representation(row, tz=None) -> dict:
    """A task as the API shows it, from a row of ``TASK_ROW_FIELDS``."""
    tz = tz or timezone.get_current_timezone()
    return {
        "id": row["id"], "release": row["release_id"], "title": row["title"], "description": row["description"],
        "step": row["step"], "assignee_user": row["assignee_user_id"], "assignee_team": row["assignee_team_id"],
        "assignee_vendor": row["assignee_vendor_id"], "planned_start": _iso(row["planned_start"], tz),
        "planned_end": _iso(row["planned_end"], tz), "vendor_ticket_ref": row["vendor_ticket_ref"],
        "state": row["state"], "created_at": _iso(row["created_at"], tz), "updated_at": _iso(row["updated_at"], tz),
    }


class TaskSerializer(ModelSerializer):
    release = IdRelatedField(queryset=Release.objects.all())
    assignee_user = IdRelatedField(queryset=User.objects.filter(is_active=True),
                                                       required=False, allow_null=True)
    assignee_team = IdRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    assignee_vendor = IdRelatedField(queryset=Vendor.objects.all(), required=False,
                                                         allow_null=True)

    class Meta:
        model = Task
        fields = ["id", "release", "title", "description", "step", "assignee_user", "assignee_team",
                  "assignee_vendor", "planned_start", "planned_end", "vendor_ticket_ref", "state", "created_at",
                  "updated_at"]
        read_only_fields = ["state", "created_at", "updated_at"]

    def validate(self, attrs):
        # The planned window is the model's rule (Task.clean), checked by the service.
        if self.instance is not None and "release" in attrs and attrs["release"].pk != self.instance.release_id:
            raise serializers.ValidationError({"release": "A task cannot move to another release."})
        return attrs

    def to_representation(self, instance):
        return task_representation({f: getattr(instance, f) for f in TASK_ROW_FIELDS})


class UserSerializer(ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "email", "roles"]

    def get_roles(self, obj) -> list[str]:
        return sorted(g.name for g in obj.groups.all())


# --- step records: one serializer per record type -------------------------------------

class RoleNames(serializers.ListField):
    """Roles by name, as users know them (groups; not a relation by id)."""

    def to_representation(self, data):
        return sorted(g.name for g in data.all())


class CommunicationFields:
    """A communication's chosen audience (roles by name, teams and vendors by
    id), and what became of its messages: each recipient's status and the
    counts (``Communication.delivery``)."""

    extra = ["roles", "teams", "vendors", "recipients", "delivery"]

    @staticmethod
    def attrs() -> dict:
        return {
            "roles": RoleNames(child=serializers.ChoiceField(choices=AUDIENCE_ROLES), required=False,
                               help_text="Process roles told, by name (not vendor: choose the vendors)."),
            "teams": IdRelatedField(queryset=Team.objects.all(), many=True, required=False),
            "vendors": IdRelatedField(queryset=Vendor.objects.all(), many=True, required=False),
            "recipients": serializers.SerializerMethodField(),
            "delivery": serializers.SerializerMethodField(),
            "get_recipients": CommunicationFields.get_recipients,
            "get_delivery": CommunicationFields.get_delivery,
        }

    @extend_schema_field(inline_serializer("CommunicationRecipient", {
        "address": serializers.CharField(), "status": serializers.CharField()}, many=True))
    def get_recipients(self, obj) -> list:
        return [{"address": m.recipient, "status": m.status} for m in obj.messages.all()]

    @extend_schema_field(inline_serializer("CommunicationDelivery", {
        "delivered": serializers.IntegerField(), "failed": serializers.IntegerField(),
        "pending": serializers.IntegerField()}))
    def get_delivery(self, obj) -> dict:
        return obj.delivery()


def _record_serializer(record_type, model):
    fields = ["id"] + [f.name for f in model._meta.concrete_fields if f.name not in ("id", "release")]
    # What the service sets is shown, never written; a record its step's
    # transition writes is read-only as a whole.
    readonly = [f for f in fields if f in SERVICE_SET_FIELDS | SERVICE_SET_BY_TYPE.get(record_type, set())
                or not record_writable(model)]
    attrs = {}
    if model.signed:
        # The writer signs the record (a CAB vote): their credential, never stored.
        attrs["signature"] = signature_field()
        fields.append("signature")
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": fields, "read_only_fields": readonly})
    if record_type == "test_results":
        from ..models import TestCase

        attrs["test_case"] = IdRelatedField(queryset=TestCase.objects.all())
    if record_type == "closure_comments":
        attrs["rfc"] = IdRelatedField(queryset=ChangeRequest.objects.all())
    if record_type == "communications":
        attrs.update(CommunicationFields.attrs())
        fields += CommunicationFields.extra
    for field in model._meta.concrete_fields:
        if field.name in readonly and field.blank and isinstance(field, (models.URLField, models.EmailField)):
            # Shown only, and blank until set ("" is no URI nor address): a string in the schema.
            attrs[field.name] = serializers.CharField(read_only=True, help_text=field.help_text)
    name = "".join(part.capitalize() for part in model.__name__.split("_")) + "Serializer"
    return type(name, (ModelSerializer,), attrs)


RECORD_SERIALIZERS = {rt: _record_serializer(rt, model) for rt, model in RECORD_TYPES.items()}
