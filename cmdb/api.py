"""REST API for the CMDB: configuration items and (read-only) baselines."""
from django_filters import rest_framework as df
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import filters, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from releasemgmt.api import (
    ERRORS,
    IF_MATCH,
    READ_ERRORS,
    WRITE_ERRORS,
    ETagMixin,
    GuardedWritesMixin,
    IdRelatedField,
    ModelSerializer,
    StandardPagination,
    transition_viewset_mixin,
)
from releasemgmt.filters import FilterSet, IdFilter

from . import services
from .choices import BaselineKind, CIStatus, CIType
from .models import Baseline, BaselineItem, ConfigurationItem


class CISerializer(ModelSerializer):
    depends_on = IdRelatedField(many=True, required=False,
                                                    queryset=ConfigurationItem.objects.all())
    dependants = IdRelatedField(many=True, read_only=True)

    class Meta:
        model = ConfigurationItem
        fields = ["id", "name", "ci_type", "version", "status", "owner", "attributes", "depends_on", "dependants",
                  "created_at", "updated_at"]
        read_only_fields = ["status", "created_at", "updated_at"]

    def validate_attributes(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Attributes must be a JSON object.")
        return value


class BaselineItemSerializer(ModelSerializer):
    class Meta:
        model = BaselineItem
        fields = ["ci", "name", "version", "status", "attributes"]


class BaselineSerializer(ModelSerializer):
    items = BaselineItemSerializer(many=True, read_only=True)

    class Meta:
        model = Baseline
        fields = ["id", "name", "kind", "state", "release", "description", "captured_by", "captured_at", "items"]
        read_only_fields = fields


class CIFilter(FilterSet):
    status = df.MultipleChoiceFilter(choices=CIStatus.choices, distinct=False)  # a column: no DISTINCT
    ci_type = df.ChoiceFilter(choices=CIType.choices)
    depends_on = IdFilter(field_name="depends_on")
    owner = IdFilter()

    class Meta:
        model = ConfigurationItem
        fields = ["status", "ci_type", "depends_on", "owner"]


@extend_schema_view(
    list=extend_schema(summary="List configuration items"),
    retrieve=extend_schema(summary="A configuration item", responses={200: CISerializer, **READ_ERRORS}),
    create=extend_schema(summary="Register a configuration item", responses={201: CISerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Edit a configuration item", parameters=[IF_MATCH],
                                 responses={200: CISerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a configuration item's fields", parameters=[IF_MATCH],
                         responses={200: CISerializer, **WRITE_ERRORS}),
)
class CIViewSet(GuardedWritesMixin,
                transition_viewset_mixin(ConfigurationItem, services.ci_transition, "ci_id", CISerializer),
                mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Configuration items (CIs) with their depends-on relations."""

    serializer_class = CISerializer
    pagination_class = StandardPagination
    filter_backends = [df.DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = CIFilter
    search_fields = ["name", "version"]
    ordering_fields = ["name", "id", "updated_at"]
    ordering = ["name"]

    def get_queryset(self):
        return ConfigurationItem.objects.restrict(self.request.user).prefetch_related("depends_on", "dependants")

    def check_create(self, request):
        services.ci_create_check(by=request.user)

    def check_update(self, request, instance):
        services.ci_update_check(ci=instance, by=request.user)

    def perform_create(self, serializer):
        serializer.instance = services.ci_create(by=self.request.user, **serializer.validated_data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        serializer.instance = services.ci_update(ci_id=serializer.instance.pk, by=self.request.user,
                                                 **serializer.validated_data)
        self._etag_object = serializer.instance


class BaselineFilter(FilterSet):
    kind = df.ChoiceFilter(choices=BaselineKind.choices)
    release = IdFilter()
    ci = IdFilter(field_name="items__ci", distinct=True)

    class Meta:
        model = Baseline
        fields = ["kind", "release", "ci"]


DiffRow = inline_serializer(
    "BaselineDiffRow",
    fields={
        "ci": serializers.IntegerField(),
        "name": serializers.CharField(),
        "change": serializers.ChoiceField(choices=["added", "removed", "changed"]),
        "before": serializers.CharField(allow_null=True),
        "after": serializers.CharField(allow_null=True),
    },
    many=True,
)


@extend_schema_view(
    list=extend_schema(summary="List baselines"),
    retrieve=extend_schema(summary="A baseline with its items",
                           responses={200: BaselineSerializer, **READ_ERRORS}),
)
class BaselineViewSet(ETagMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Configuration baselines: immutable snapshots of CIs, read-only here."""

    serializer_class = BaselineSerializer
    pagination_class = StandardPagination
    filter_backends = [df.DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = BaselineFilter
    ordering_fields = ["id", "captured_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return Baseline.objects.restrict(self.request.user).prefetch_related("items")

    @extend_schema(
        summary="What changed between this baseline and another",
        parameters=[OpenApiParameter("other", OpenApiTypes.INT, OpenApiParameter.QUERY, required=True,
                                     description="The baseline to compare with (the later one).")],
        responses={200: DiffRow, 400: ERRORS[400], **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def diff(self, request, pk=None):
        base = self.get_object()
        other_id = request.query_params.get("other", "")
        if not other_id.isdigit():
            raise serializers.ValidationError({"other": "Give the id of the baseline to compare with."})
        other = self.get_queryset().filter(pk=int(other_id)).first()
        if other is None:
            raise serializers.ValidationError({"other": "No baseline has this id."})
        return Response(services.baseline_diff(base, other))
