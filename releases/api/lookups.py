"""Reference data over the API: teams and vendors (read-only; the ids a task's
``assignee_team`` and ``assignee_vendor`` take) and freeze windows (read by
the process's roles, written by those ``freeze_services`` lets). Each reads
through its model's ``restrict``, as the pages and the admin do."""
from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from cmdb.models import ConfigurationItem
from releasemgmt.api import (
    IF_MATCH,
    READ_ERRORS,
    WRITE_ERRORS,
    GuardedWritesMixin,
    IdRelatedField,
    ModelSerializer,
    StandardPagination,
)
from releasemgmt.filters import FilterSet, IdFilter, UtcIsoDateTimeFilter

from .. import freeze_services
from ..models import FreezeWindow, Team, Vendor


# A team's or vendor's address may be blank: a plain string in the schema
# (an "email" format would refuse the blank).
def _email():
    return serializers.CharField(read_only=True, help_text="Where it is told by email; blank when none.")


class TeamSerializer(ModelSerializer):
    email = _email()

    class Meta:
        model = Team
        fields = ["id", "name", "email", "members"]
        read_only_fields = fields


class VendorSerializer(ModelSerializer):
    """A vendor as integrators need it: never its secrets nor their
    fingerprints, nor the address of its system."""

    email = _email()
    has_integration = serializers.SerializerMethodField(
        help_text="Its tasks are routed to its own ticketing system (B2B); otherwise it is told by email.")

    class Meta:
        model = Vendor
        fields = ["id", "name", "email", "has_integration"]
        read_only_fields = fields

    def get_has_integration(self, obj) -> bool:
        return bool(obj.integration_url)


@extend_schema_view(
    list=extend_schema(summary="List teams", responses={200: TeamSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(summary="A team", responses={200: TeamSerializer, **READ_ERRORS}),
)
class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Resolver groups release activities are assigned to (a task's
    `assignee_team`), with their members' user ids; read by the process's
    roles, not by a vendor."""

    serializer_class = TeamSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        return Team.objects.restrict(self.request.user).prefetch_related("members").order_by("name", "id")


@extend_schema_view(
    list=extend_schema(summary="List vendors", responses={200: VendorSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(summary="A vendor", responses={200: VendorSerializer, **READ_ERRORS}),
)
class VendorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Suppliers with a queue of their own (a task's `assignee_vendor`). A
    vendor's user sees only its own vendor."""

    serializer_class = VendorSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        return Vendor.objects.restrict(self.request.user).only("id", "name", "email", "integration_url") \
            .order_by("name", "id")


class FreezeWindowSerializer(ModelSerializer):
    cis = IdRelatedField(many=True, queryset=ConfigurationItem.objects.all(), required=False,
                         help_text="The configuration items frozen; empty for a global freeze.")

    class Meta:
        model = FreezeWindow
        fields = ["id", "name", "start", "end", "reason", "cis", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class FreezeWindowFilter(FilterSet):
    ends_after = UtcIsoDateTimeFilter(field_name="end", lookup_expr="gt",
                                      label="Ends after this time (with starts_before: overlaps a period)")
    starts_before = UtcIsoDateTimeFilter(field_name="start", lookup_expr="lt", label="Starts before this time")
    ci = IdFilter(method="covering", label="Freezes this configuration item: listing it, or global")

    class Meta:
        model = FreezeWindow
        fields = ["ends_after", "starts_before", "ci"]

    def covering(self, queryset, name, value):
        return queryset.filter(Q(cis=value) | Q(cis__isnull=True)).distinct()


@extend_schema_view(
    list=extend_schema(summary="List freeze windows"),
    retrieve=extend_schema(summary="A freeze window", responses={200: FreezeWindowSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Declare a freeze window", responses={201: FreezeWindowSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Change a freeze window", parameters=[IF_MATCH],
                                 responses={200: FreezeWindowSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a freeze window's fields", parameters=[IF_MATCH],
                         responses={200: FreezeWindowSerializer, **WRITE_ERRORS}),
    destroy=extend_schema(summary="Lift a freeze window", parameters=[IF_MATCH],
                          responses={204: None, **WRITE_ERRORS}),
)
class FreezeWindowViewSet(GuardedWritesMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Change freezes (blackouts): no deployment starts inside one, globally
    or on the configuration items it lists, except an emergency release
    whose `start_deployment` gives a `freeze_override_reason`. Read by the
    process's roles (not by a vendor); declared, changed and lifted by
    release and change managers."""

    serializer_class = FreezeWindowSerializer
    pagination_class = StandardPagination
    filterset_class = FreezeWindowFilter

    def get_queryset(self):
        return FreezeWindow.objects.restrict(self.request.user).prefetch_related("cis").order_by("start", "id")

    def check_create(self, request):
        freeze_services.freeze_window_check(by=request.user)

    def check_update(self, request, instance):
        freeze_services.freeze_window_check(by=request.user, freeze_id=instance.pk)

    def perform_create(self, serializer):
        serializer.instance = freeze_services.freeze_window_create(by=self.request.user, **serializer.validated_data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        serializer.instance = freeze_services.freeze_window_update(
            freeze_id=serializer.instance.pk, by=self.request.user, **serializer.validated_data)
        self._etag_object = serializer.instance

    def destroy(self, request, *args, **kwargs):
        """Lift the freeze: 204. Its history keeps it."""
        freeze = self.get_object()
        self.check_update(request, freeze)
        with self.if_match_held(freeze):
            freeze_services.freeze_window_delete(freeze_id=freeze.pk, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


__all__ = ["FreezeWindowViewSet", "TeamViewSet", "VendorViewSet"]
