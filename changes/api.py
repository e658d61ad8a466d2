"""REST API for RFCs."""
from django_filters import rest_framework as df
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import filters, mixins, serializers, viewsets

from releasemgmt.filters import UtcIsoDateTimeFilter
from releasemgmt.api import (
    IF_MATCH,
    READ_ERRORS,
    WRITE_ERRORS,
    GuardedWritesMixin,
    StandardPagination,
    require_any_role,
    transition_viewset_mixin,
    vendor_only,
    visible_releases,
)
from releasemgmt.workflow import TransitionForbidden, user_roles

from . import services
from .choices import ChangeType, Level, RfcState
from .models import ChangeRequest


class RfcSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    releases = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ChangeRequest
        fields = ["id", "number", "title", "description", "requester", "change_type", "risk", "impact", "state",
                  "closure_comments", "releases", "created_at", "updated_at"]
        read_only_fields = ["requester", "state", "closure_comments", "created_at", "updated_at"]


class RfcFilter(df.FilterSet):
    state = df.MultipleChoiceFilter(choices=RfcState.choices)
    change_type = df.ChoiceFilter(choices=ChangeType.choices)
    risk = df.ChoiceFilter(choices=Level.choices)
    impact = df.ChoiceFilter(choices=Level.choices)
    requester = df.NumberFilter()
    release = df.NumberFilter(field_name="releases", distinct=True)
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
        qs = ChangeRequest.objects.prefetch_related("releases")
        if vendor_only(self.request.user):
            qs = qs.filter(pk__in=visible_releases(self.request.user).values("rfcs"))
        return qs

    def check_create(self, request):
        require_any_role(request.user, "create", "You need a role in the release process to raise an RFC.")

    def check_update(self, request, instance):
        if instance.requester_id != request.user.pk and "change_manager" not in user_roles(request.user):
            raise TransitionForbidden("update", "Only the requester or a change manager may edit this RFC.")

    def perform_create(self, serializer):
        serializer.instance = services.rfc_create(by=self.request.user, **serializer.validated_data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        serializer.instance = services.rfc_update(rfc_id=serializer.instance.pk, by=self.request.user,
                                                  **serializer.validated_data)
        self._etag_object = serializer.instance
