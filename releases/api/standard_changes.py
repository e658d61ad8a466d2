"""REST API for standard changes: a change manager's signed standing approval
of a release template for named CIs (``releases.standard_changes``)."""
from django_filters import rest_framework as df
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from cmdb.models import ConfigurationItem
from releasemgmt.api import (
    READ_ERRORS,
    WRITE_ERRORS,
    ETagMixin,
    IdRelatedField,
    ModelSerializer,
    Serializer,
    StandardPagination,
    signature_field,
)
from releasemgmt.filters import BooleanFilter, FilterSet

from .. import standard_changes
from ..models import ReleaseTemplate, StandardChange


class SignatureSummarySerializer(serializers.Serializer):
    signed_by = serializers.CharField(source="signer_username")
    signed_at = serializers.DateTimeField(source="at")
    method = serializers.CharField()
    fingerprint = serializers.CharField(help_text="SHA-256 of what was signed.")


class StandardChangeSerializer(ModelSerializer):
    number = serializers.CharField(read_only=True)
    active = serializers.BooleanField(read_only=True)
    template = IdRelatedField(queryset=ReleaseTemplate.objects.all(), help_text="The release template approved.")
    cis = IdRelatedField(many=True, queryset=ConfigurationItem.objects.all(),
                         help_text="The configuration items a release from the template may change.")
    signature = signature_field()
    approval_signature = serializers.SerializerMethodField()
    withdrawal_signature = serializers.SerializerMethodField()

    class Meta:
        model = StandardChange
        fields = ["id", "number", "active", "template", "cis", "note", "template_updated_at", "approved_by",
                  "approved_at", "withdrawn_by", "withdrawn_at", "withdrawal_reason", "signature",
                  "approval_signature", "withdrawal_signature"]
        read_only_fields = ["template_updated_at", "approved_by", "approved_at", "withdrawn_by", "withdrawn_at",
                            "withdrawal_reason"]

    def _signature(self, obj, meaning):
        found = self.context.get("signatures", {}).get((obj.pk, meaning))
        return SignatureSummarySerializer(found).data if found else None

    @extend_schema_field(SignatureSummarySerializer(allow_null=True))
    def get_approval_signature(self, obj):
        """Who signed the approval, when, and the fingerprint of what they signed."""
        return self._signature(obj, standard_changes.APPROVE)

    @extend_schema_field(SignatureSummarySerializer(allow_null=True))
    def get_withdrawal_signature(self, obj):
        """Who signed the withdrawal, when; null while the approval stands."""
        return self._signature(obj, standard_changes.WITHDRAW)


class WithdrawInput(Serializer):
    reason = serializers.CharField(max_length=4000, help_text="Why the standard change is withdrawn.")
    signature = signature_field()


class StandardChangeFilter(FilterSet):
    active = BooleanFilter(method="by_active", label="Only standing approvals in force (true) or withdrawn (false)")

    class Meta:
        model = StandardChange
        fields = ["template", "active"]

    def by_active(self, queryset, name, value):
        return queryset.filter(withdrawn_at__isnull=value)


@extend_schema_view(
    list=extend_schema(summary="List standard changes"),
    retrieve=extend_schema(summary="A standard change", responses={200: StandardChangeSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Approve a release template as a standard change (signed)",
                         responses={201: StandardChangeSerializer, **WRITE_ERRORS}),
)
class StandardChangeViewSet(ETagMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                            mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Standard changes: a change manager's signed standing approval of a
    release template for named configuration items. A release raised from
    the template whose scope lies within those CIs has its plan approved by
    it when the plan is submitted (`approve_plan`, signed by method
    `standing_approval`), without CAB votes; every other step stays as it
    is. Read by the process's roles; approved and withdrawn, signed, by
    change managers."""

    serializer_class = StandardChangeSerializer
    pagination_class = StandardPagination
    filterset_class = StandardChangeFilter

    def get_queryset(self):
        return (StandardChange.objects.restrict(self.request.user).select_related("template")
                .prefetch_related("cis").order_by("-approved_at", "-id"))

    def get_serializer(self, *args, **kwargs):
        rows = args[0] if args else kwargs.get("instance")
        if rows is not None:
            rows = list(rows) if isinstance(rows, (list, tuple)) or hasattr(rows, "model") else [rows]
            kwargs.setdefault("context", self.get_serializer_context())["signatures"] = \
                standard_changes.signatures_of(rows)
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = standard_changes.standard_change_approve(by=self.request.user,
                                                                       **serializer.validated_data)
        self._etag_object = serializer.instance

    def create(self, request, *args, **kwargs):
        # 403 (kept as a refused attempt) before the body is read, as every write of the API.
        standard_changes.standard_change_check(by=request.user)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(self.get_serializer(serializer.instance).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Withdraw a standard change (signed)", request=WithdrawInput,
                   responses={200: StandardChangeSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], filter_backends=[])
    def withdraw(self, request, pk=None):
        """Withdraw the standing approval, signed: plans it approved keep
        that approval; plans submitted from now on go to the CAB. 409
        `invalid_state` when it is withdrawn already."""
        standard = self.get_object()
        standard_changes.standard_change_check(by=request.user)
        data = WithdrawInput(data=request.data)
        data.is_valid(raise_exception=True)
        standard = standard_changes.standard_change_withdraw(standard_change_id=standard.pk, by=request.user,
                                                             **data.validated_data)
        standard = self.get_queryset().get(pk=standard.pk)
        self._etag_object = standard
        return Response(self.get_serializer(standard).data)
