"""Evidence files over the REST API: list and read what you may see, attach
(multipart), download. It translates HTTP to ``services`` and back; who may
see a file is its model's ``restrict`` (the record's own), who may attach is
the service's check."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django_filters import rest_framework as df
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from releasemgmt.api import READ_ERRORS, WRITE_ERRORS, IdRelatedField, Serializer, StandardPagination
from releasemgmt.filters import BooleanFilter, FilterSet, IdFilter
from releasemgmt.input_guard import ID_MAX, ID_MIN, MultiPartParser

from . import files, services
from .download import downloadable, file_response
from .kinds import KINDS, kind_of_model
from .models import EvidenceFile

LISTED = ("uploaded_by", "superseded_by")  # read with each page, so its queries do not grow with it


def record_type_of(evidence) -> str:
    """The kind the file is attached to, from its content type (cached: no query)."""
    kind = kind_of_model(ContentType.objects.get_for_id(evidence.content_type_id).model_class())
    return kind.name if kind else ""


class EvidenceFileSerializer(serializers.ModelSerializer):
    record_type = serializers.SerializerMethodField(help_text="What it is attached to: a record type of "
                                                              "`/api/releases/{id}/...`, `rfc` or `problem`.")
    record_id = serializers.IntegerField(source="object_id", read_only=True)
    release = IdRelatedField(read_only=True, allow_null=True)
    rfc = IdRelatedField(read_only=True, allow_null=True)
    problem = IdRelatedField(read_only=True, allow_null=True)
    supersedes = IdRelatedField(read_only=True, allow_null=True)
    uploaded_by = IdRelatedField(read_only=True)
    uploaded_by_username = serializers.CharField(source="uploaded_by.username", read_only=True)
    superseded_by = serializers.SerializerMethodField(help_text="The file that replaced this one; null while "
                                                                "it is the current version.")
    download = serializers.SerializerMethodField(help_text="Where its content is served (as an attachment).")

    class Meta:
        model = EvidenceFile
        fields = ["id", "record_type", "record_id", "release", "rfc", "problem", "name", "size", "sha256",
                  "media_type", "note", "supersedes", "superseded_by", "uploaded_by", "uploaded_by_username",
                  "uploaded_at", "download"]
        read_only_fields = fields

    def get_record_type(self, obj) -> str:
        return record_type_of(obj)

    def get_superseded_by(self, obj) -> int | None:
        newer = getattr(obj, "superseded_by", None)
        return newer.pk if newer else None

    def get_download(self, obj) -> str:
        return f"/api/evidence/{obj.pk}/download/"


class EvidenceUploadSerializer(Serializer):
    record_type = serializers.ChoiceField(choices=list(KINDS), help_text="What to attach it to: a step record's "
                                                                          "type, `rfc` or `problem`.")
    record_id = serializers.IntegerField(min_value=ID_MIN, max_value=ID_MAX)
    file = serializers.FileField(allow_empty_file=True, help_text="The file. Its type is read from its content and "
                                                                       "extension; an empty one is refused too.")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    supersedes = serializers.IntegerField(min_value=ID_MIN, max_value=ID_MAX, required=False, allow_null=True,
                                          default=None, help_text="The id of a file of the same record that "
                                                                  "this one replaces.")


class EvidenceFilter(FilterSet):
    release = IdFilter(help_text="Files of this release's step records.")
    rfc = IdFilter(help_text="Files of this RFC.")
    problem = IdFilter(help_text="Files of this problem record.")
    record_type = df.ChoiceFilter(choices=[(k, k) for k in KINDS], method="of_kind")
    record_id = IdFilter(field_name="object_id")
    current = BooleanFilter(field_name="superseded_by", lookup_expr="isnull",
                               help_text="true: only files not superseded.")

    class Meta:
        model = EvidenceFile
        fields = ["release", "rfc", "problem", "record_type", "record_id", "current"]

    def of_kind(self, queryset, name, value):
        return queryset.filter(content_type=ContentType.objects.get_for_model(KINDS[value].model))


@extend_schema_view(
    list=extend_schema(summary="List evidence files", responses={200: EvidenceFileSerializer(many=True),
                                                                 **READ_ERRORS}),
    retrieve=extend_schema(summary="An evidence file's record", responses={200: EvidenceFileSerializer,
                                                                           **READ_ERRORS}),
    create=extend_schema(summary="Attach an evidence file (multipart)", request={
        "multipart/form-data": EvidenceUploadSerializer}, responses={201: EvidenceFileSerializer, **WRITE_ERRORS}),
)
class EvidenceFileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                          viewsets.GenericViewSet):
    """Files attached as evidence to step records, RFCs and problem records,
    seen by whoever may see the record. A file is never replaced or
    deleted: a new version supersedes it."""

    serializer_class = EvidenceFileSerializer
    pagination_class = StandardPagination
    filter_backends = [df.DjangoFilterBackend]
    filterset_class = EvidenceFilter
    parser_classes = [MultiPartParser]

    def perform_content_negotiation(self, request, force=False):
        # The file is served as is; only errors go through a renderer: JSON
        # even when the client asked for the file (application/octet-stream), not 406.
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    def get_queryset(self):
        return EvidenceFile.objects.restrict(self.request.user).select_related(*LISTED).order_by("uploaded_at", "id")

    def create(self, request, *args, **kwargs):
        data = EvidenceUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            evidence = services.attach(record_type=values["record_type"], record_id=values["record_id"],
                                       by=request.user, upload=values["file"], note=values["note"],
                                       supersedes=values["supersedes"])
        except files.Refused as exc:
            field = "supersedes" if exc.code == "invalid" else "file"
            raise exceptions.ValidationError({field: [exceptions.ErrorDetail(str(exc), code=exc.code)]}) from None
        return Response(EvidenceFileSerializer(evidence).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Download an evidence file", responses={
        (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description=(
            "The file as it was uploaded, as an attachment (`Content-Disposition: attachment`, "
            "`X-Content-Type-Options: nosniff`); its SHA-256 in `Digest`. The type its content showed is the "
            "file's `media_type`.")),
        **READ_ERRORS})
    @action(detail=True, methods=["get"], url_path="download", filter_backends=[], pagination_class=None)
    def download(self, request, pk=None):
        return file_response(downloadable(request.user, pk))
