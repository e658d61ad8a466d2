"""REST API for release templates (release models): read by every role of
the process, kept by release managers through ``template_services``."""
from django_filters import rest_framework as df
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import filters, mixins, serializers, viewsets

from releasemgmt.api import (
    IF_MATCH,
    READ_ERRORS,
    WRITE_ERRORS,
    GuardedWritesMixin,
    IdRelatedField,
    ModelSerializer,
    StandardPagination,
)
from releasemgmt.filters import BooleanFilter, FilterSet
from releasemgmt.input_guard import ID_MAX, JSONParser

from .. import template_services
from ..choices import ReleaseType
from ..models import ReleaseTemplate, Team, TemplateTask, TemplateTestCase, Vendor


class TemplateTaskSerializer(ModelSerializer):
    id = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX,
                                  help_text="Give it to edit that task; leave it out to add one.")
    team = IdRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    vendor = IdRelatedField(queryset=Vendor.objects.all(), required=False, allow_null=True)

    class Meta:
        model = TemplateTask
        fields = ["id", "title", "description", "step", "team", "vendor", "offset_start", "offset_end"]

    def validate(self, attrs):
        if attrs.get("team") and attrs.get("vendor"):
            raise serializers.ValidationError({"vendor": "Assign the activity to a team or a vendor, not both."})
        start, end = attrs.get("offset_start"), attrs.get("offset_end")
        if start is not None and end is not None and end < start:
            raise serializers.ValidationError({"offset_end": "The activity cannot end before it starts."})
        return attrs


class TemplateTestCaseSerializer(ModelSerializer):
    id = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX,
                                  help_text="Give it to edit that test; leave it out to add one.")

    class Meta:
        model = TemplateTestCase
        fields = ["id", "name", "description", "mandatory"]


class ReleaseTemplateSerializer(ModelSerializer):
    tasks = TemplateTaskSerializer(many=True, required=False,
                                   help_text="On a write, the template's tasks become exactly these.")
    test_cases = TemplateTestCaseSerializer(many=True, required=False,
                                            help_text="On a write, the template's test cases become exactly these.")

    class Meta:
        model = ReleaseTemplate
        fields = ["id", "name", "release_type", "description", "active", "scope", "deployment_approach", "risks",
                  "teams", "downtime_expected", "notes", "rollback_plan", "tasks", "test_cases", "created_by",
                  "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]
        extra_kwargs = {"release_type": {"required": True}}


class ReleaseTemplateFilter(FilterSet):
    release_type = df.ChoiceFilter(choices=ReleaseType.choices)
    active = BooleanFilter()

    class Meta:
        model = ReleaseTemplate
        fields = ["release_type", "active"]


@extend_schema_view(
    list=extend_schema(summary="List release templates"),
    retrieve=extend_schema(summary="A release template", responses={200: ReleaseTemplateSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Define a release template",
                         responses={201: ReleaseTemplateSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Edit a release template", parameters=[IF_MATCH],
                                 responses={200: ReleaseTemplateSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a release template", parameters=[IF_MATCH],
                         responses={200: ReleaseTemplateSerializer, **WRITE_ERRORS}),
)
class ReleaseTemplateViewSet(GuardedWritesMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Release templates (ITIL release models): the tasks, test cases, plan
    sections and rollback skeleton a release of one type starts with. Raise a
    release from one with `template` on `POST /api/releases/`. Templates are
    retired (`active: false`), never deleted: releases refer to them."""

    serializer_class = ReleaseTemplateSerializer
    # JSON only: a form cannot carry the nested tasks and test cases, and
    # DRF read a form without them as "no tasks".
    parser_classes = [JSONParser]
    pagination_class = StandardPagination
    filter_backends = [df.DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = ReleaseTemplateFilter
    search_fields = ["name", "description"]
    ordering_fields = ["id", "name", "release_type"]
    ordering = ["name"]

    def get_queryset(self):
        return ReleaseTemplate.objects.restrict(self.request.user).prefetch_related("tasks", "test_cases")

    def check_create(self, request):
        template_services.template_create_check(by=request.user)

    def check_update(self, request, instance):
        template_services.template_update_check(template=instance, by=request.user)

    def perform_create(self, serializer):
        serializer.instance = template_services.template_create(by=self.request.user, **serializer.validated_data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        serializer.instance = template_services.template_update(
            template_id=serializer.instance.pk, by=self.request.user, **serializer.validated_data)
        self._etag_object = serializer.instance
