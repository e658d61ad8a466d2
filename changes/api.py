"""REST API for RFCs."""
from django.db.models import Prefetch
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
    transition_viewset_mixin,
)
from releasemgmt.filters import FilterSet, IdFilter, UtcIsoDateTimeFilter
from releasemgmt.workflow import TransitionForbidden

from . import services
from .choices import ChangeType, Level, RfcState
from .models import ChangeRequest, Problem
from .relations import release_model


class RfcSerializer(ModelSerializer):
    number = serializers.CharField(read_only=True)
    releases = IdRelatedField(many=True, read_only=True)

    class Meta:
        model = ChangeRequest
        fields = ["id", "number", "title", "description", "requester", "raised_by", "change_type", "risk", "impact",
                  "state", "closure_comments", "releases", "created_at", "updated_at"]
        read_only_fields = ["requester", "raised_by", "state", "closure_comments", "created_at", "updated_at"]


class RfcFilter(FilterSet):
    state = df.MultipleChoiceFilter(choices=RfcState.choices, distinct=False)  # a column: no DISTINCT
    change_type = df.ChoiceFilter(choices=ChangeType.choices)
    risk = df.ChoiceFilter(choices=Level.choices)
    impact = df.ChoiceFilter(choices=Level.choices)
    requester = IdFilter()
    release = IdFilter(field_name="releases", distinct=True)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = ChangeRequest
        fields = ["state", "change_type", "risk", "impact", "requester", "release"]


@extend_schema_view(
    list=extend_schema(summary="List RFCs"),
    retrieve=extend_schema(summary="An RFC", responses={200: RfcSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Raise an RFC", responses={201: RfcSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Edit an RFC before it is authorised", parameters=[IF_MATCH],
                                 responses={200: RfcSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace an RFC's fields before it is authorised", parameters=[IF_MATCH],
                         responses={200: RfcSerializer, **WRITE_ERRORS}),
)
class RfcViewSet(GuardedWritesMixin,
                 transition_viewset_mixin(ChangeRequest, services.rfc_transition, "rfc_id", RfcSerializer),
                 mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Requests for Change: assessed and authorised by Change Management, then
    carried by releases."""

    serializer_class = RfcSerializer
    pagination_class = StandardPagination
    filter_backends = [df.DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = RfcFilter
    search_fields = ["title", "description"]
    ordering_fields = ["id", "created_at", "state"]
    ordering = ["-id"]

    def get_queryset(self):
        user = self.request.user
        return ChangeRequest.objects.restrict(user).prefetch_related(
            Prefetch("releases", queryset=release_model().objects.restrict(user)))

    def check_create(self, request):
        services.rfc_create_check(by=request.user)

    def check_update(self, request, instance):
        services.rfc_update_check(rfc=instance, by=request.user)

    def perform_create(self, serializer):
        serializer.instance = services.rfc_create(by=self.request.user, **serializer.validated_data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        serializer.instance = services.rfc_update(rfc_id=serializer.instance.pk, by=self.request.user,
                                                  **serializer.validated_data)
        self._etag_object = serializer.instance


# --- problem records ----------------------------------------------------------------------


class ProblemSerializer(ModelSerializer):
    number = serializers.CharField(read_only=True)
    release = IdRelatedField(
        queryset=release_model().objects.all(),
        help_text="The rolled-back release to analyse; one problem record per release.")
    rfcs = IdRelatedField(many=True, read_only=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                  help_text="Defaults to 'Rollback of <release>'.")

    class Meta:
        model = Problem
        fields = ["id", "number", "title", "description", "release", "rfcs", "state", "timeline", "root_cause",
                  "corrective_actions", "created_by", "created_at", "updated_at"]
        read_only_fields = ["state", "timeline", "created_by", "created_at", "updated_at"]

    def validate(self, attrs):
        if self.instance is not None and "release" in attrs:
            if attrs.pop("release") != self.instance.release:
                raise serializers.ValidationError({"release": "A problem record stays with its release."})
        return attrs


class ProblemOpenSerializer(ProblemSerializer):
    """Opening a problem record: the analysis (root cause, corrective
    actions) is recorded on it afterwards, so it is read-only here."""

    class Meta(ProblemSerializer.Meta):
        read_only_fields = [*ProblemSerializer.Meta.read_only_fields, "root_cause", "corrective_actions"]


class ProblemFilter(FilterSet):
    state = df.MultipleChoiceFilter(choices=Problem.State.choices, distinct=False)
    release = IdFilter()

    class Meta:
        model = Problem
        fields = ["state", "release"]


@extend_schema_view(
    list=extend_schema(summary="List problem records"),
    retrieve=extend_schema(summary="A problem record", responses={200: ProblemSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Open the problem record of a rolled-back release (step 17)",
                         request=ProblemOpenSerializer, responses={201: ProblemSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Record the analysis of a problem", parameters=[IF_MATCH],
                                 responses={200: ProblemSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a problem record's analysis", parameters=[IF_MATCH],
                         responses={200: ProblemSerializer, **WRITE_ERRORS}),
)
class ProblemViewSet(GuardedWritesMixin,
                     transition_viewset_mixin(Problem, services.problem_transition, "problem_id", ProblemSerializer),
                     mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Problem records (ITIL Problem Management): root cause analysis of a
    release that was rolled back, pre-filled with its RFCs and timeline.
    Opened and worked by release and change managers; 409 `duplicate`
    (blocker `problem_exists`) when the release already has one, 409
    `invalid_state` (blocker `not_rolled_back`) when it was not rolled
    back."""

    serializer_class = ProblemSerializer
    pagination_class = StandardPagination
    filter_backends = [df.DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = ProblemFilter
    search_fields = ["title", "description", "root_cause"]
    ordering_fields = ["id", "created_at", "state"]
    ordering = ["-id"]

    def get_queryset(self):
        return Problem.objects.restrict(self.request.user).prefetch_related("rfcs")

    def get_serializer_class(self):
        return ProblemOpenSerializer if self.action == "create" else ProblemSerializer

    def check_create(self, request):
        services.problem_open_check(by=request.user)

    def check_update(self, request, instance):
        services.problem_update_check(problem=instance, by=request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        release = data.pop("release")
        if not release_model().objects.restrict(self.request.user).filter(pk=release.pk).exists():
            raise TransitionForbidden("open_problem", "You cannot see this release.")
        serializer.instance = services.problem_create_from_release(release_id=release.pk, by=self.request.user,
                                                                   **data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        serializer.instance = services.problem_update(problem_id=serializer.instance.pk, by=self.request.user,
                                                      **serializer.validated_data)
        self._etag_object = serializer.instance
