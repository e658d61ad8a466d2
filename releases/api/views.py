"""The REST API for releases, their step records, and tasks: it translates
HTTP to the services and back, nothing more."""
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import filters, generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from cmdb.api import BaselineSerializer
from releasemgmt.api import (
    IF_MATCH,
    READ_ERRORS,
    WRITE_ERRORS,
    GuardedWritesMixin,
    NoInput,
    StandardPagination,
    TaskCursorPagination,
    etag_from,
    transition_viewset_mixin,
)
from releasemgmt.workflow import ROLES

from .. import services
from ..counts import ReleaseCountPaginator
from ..filtersets import ReleaseFilter, TaskFilter
from ..models import RECORD_TYPES, OutboxMessage, Release, Task
from ..template_services import release_create_from_template
from .serializers import (
    RECORD_SERIALIZERS,
    RELEASE_ROW_FIELDS,
    TASK_ROW_FIELDS,
    ReleaseSerializer,
    ScopeItemSerializer,
    TaskSerializer,
    release_rows_data,
    task_representation,
)

# What the guards of a release's transitions read, fetched once for the
# transition list, so its query count does not grow with the number of RFCs,
# tasks, scope items, test cases or advisers.
GUARD_PREFETCH = ("rfcs", "plans__votes", "tasks", "scope_items__ci", "test_cases__results",
                  "rollback_advice__created_by__groups")


def _prime_roles(users) -> None:
    """Fill the role cache ``releasemgmt.workflow.user_roles`` keeps on a user
    object from prefetched groups, so the rollback guard, which asks each
    adviser's roles, does not query once per adviser."""
    for user in users:
        if getattr(user, "_release_roles", None) is not None:
            continue
        if not user.is_active:
            user._release_roles = frozenset()
        elif user.is_superuser:
            user._release_roles = frozenset(ROLES)
        else:
            user._release_roles = frozenset(g.name for g in user.groups.all() if g.name in ROLES)


class ReleasePagination(StandardPagination):
    # The count is kept until a release changes (releases.counts).
    django_paginator_class = ReleaseCountPaginator


@extend_schema_view(
    list=extend_schema(summary="List releases"),
    retrieve=extend_schema(summary="A release", responses={200: ReleaseSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Raise a release ticket (step 1)", responses={201: ReleaseSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Edit a release ticket", parameters=[IF_MATCH],
                                 responses={200: ReleaseSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a release ticket's fields", parameters=[IF_MATCH],
                         responses={200: ReleaseSerializer, **WRITE_ERRORS}),
)
class ReleaseViewSet(GuardedWritesMixin,
                     transition_viewset_mixin(Release, services.release_transition, "release_id", ReleaseSerializer),
                     mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                     viewsets.GenericViewSet):
    """Release tickets and the 20-step process they go through."""

    serializer_class = ReleaseSerializer
    pagination_class = ReleasePagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = ReleaseFilter
    search_fields = ["title", "description"]
    ordering_fields = ["id", "created_at", "planned_start", "planned_end", "state", "title"]
    ordering = ["-id"]

    def get_queryset(self):
        qs = Release.objects.restrict(self.request.user)
        if self.action == "transitions":
            return qs.prefetch_related(*GUARD_PREFETCH)
        if self.action == "list":
            return qs  # read as rows: see list()
        return qs.prefetch_related("rfcs")

    def retrieve(self, request, *args, **kwargs):
        # Read as the list reads its page: the row and its RFC ids, no model
        # instance. (The viewset has no object-level permission to check.)
        row = generics.get_object_or_404(self.get_queryset().values(*RELEASE_ROW_FIELDS), pk=kwargs["pk"])
        response = Response(release_rows_data([row])[0])
        response["ETag"] = etag_from("Release", row["id"], row["updated_at"], row["state"])
        return response

    def list(self, request, *args, **kwargs):
        # The page is read as plain rows and written by the same function
        # the serializer uses (releases.api.serializers.release_representation).
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset.values(*RELEASE_ROW_FIELDS))
        return self.get_paginated_response(release_rows_data(page))

    def get_object(self):
        release = super().get_object()
        if self.action == "transitions":
            _prime_roles(advice.created_by for advice in release.rollback_advice.all())
        return release

    def check_create(self, request):
        services.release_create_check(by=request.user)

    def check_update(self, request, instance):
        services.release_update_check(release=instance, by=request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        template = data.pop("template", None)
        if template is not None:
            serializer.instance = release_create_from_template(by=self.request.user, template=template, **data)
        else:
            serializer.instance = services.release_create(by=self.request.user, **data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        serializer.instance = services.release_update(release_id=serializer.instance.pk, by=self.request.user,
                                                      **serializer.validated_data)
        self._etag_object = serializer.instance

    @extend_schema(summary="Scope: the CIs the release changes, with target versions",
                   responses={200: ScopeItemSerializer(many=True), **READ_ERRORS})
    @action(detail=True, methods=["get"], url_path="scope", pagination_class=None, filter_backends=[])
    def scope(self, request, pk=None):
        release = self.get_object()
        items = release.scope_items.select_related("ci")
        return Response(ScopeItemSerializer(items, many=True).data)

    @extend_schema(summary="Put a CI in scope (or change its target version)", request=ScopeItemSerializer,
                   responses={201: ScopeItemSerializer, **WRITE_ERRORS})
    @scope.mapping.post
    def scope_set(self, request, pk=None):
        release = self.get_object()
        services.scope_check(release=release, by=request.user)
        data = ScopeItemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.scope_set(release_id=release.pk, by=request.user, **data.validated_data)
        return Response(ScopeItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Capture the pre-release baseline of the scope (step 5)", request=None,
                   responses={201: BaselineSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path="baseline", filter_backends=[])
    def baseline(self, request, pk=None):
        """The configuration baseline of the release scope as it stands now,
        recorded as the restore point a rollback returns to."""
        release = self.get_object()
        services.release_baseline_check(release=release, by=request.user)
        NoInput(data=request.data).is_valid(raise_exception=True)
        baseline = services.release_capture_baseline(release_id=release.pk, by=request.user)
        return Response(BaselineSerializer(baseline).data, status=status.HTTP_201_CREATED)


def _record_viewset(record_type, model):
    serializer_class = RECORD_SERIALIZERS[record_type]
    verbose = model._meta.verbose_name
    doc = (model.__doc__ or verbose).strip().split("\n\n")[0]

    @extend_schema_view(
        list=extend_schema(summary=f"List the release's {model._meta.verbose_name_plural}", description=doc,
                           responses={200: serializer_class(many=True), **READ_ERRORS}),
        retrieve=extend_schema(summary=f"A {verbose}", description=doc,
                               responses={200: serializer_class, **READ_ERRORS}),
        create=extend_schema(summary=f"Add a {verbose}", description=doc,
                             responses={201: serializer_class, **WRITE_ERRORS}),
        partial_update=extend_schema(summary=f"Edit a {verbose}", description=doc, parameters=[IF_MATCH],
                                     responses={200: serializer_class, **WRITE_ERRORS}),
    )
    class RecordViewSet(GuardedWritesMixin, mixins.ListModelMixin, mixins.CreateModelMixin,
                        mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
        http_method_names = ["get", "post", "patch", "head", "options"]
        pagination_class = None
        # The routes (releasemgmt.api_urls) and so the schema offer only the
        # writes that can succeed for someone: none for a record its step's
        # transition writes, no edit of evidence.
        list_actions = {"get": "list", **({"post": "create"} if services.record_writable(model) else {})}
        detail_actions = {"get": "retrieve",
                          **({"patch": "partial_update"} if services.record_editable(model) else {})}

        def http_method_not_allowed(self, request, *args, **kwargs):
            # Why this kind of record takes no such write, in the error object
            # (405 read_only or immutable); else DRF's 405.
            if request.method in ("POST", "PUT", "PATCH"):
                services.record_method_check(model=model, edit="pk" in kwargs)
            return super().http_method_not_allowed(request, *args, **kwargs)

        def get_release(self):
            if not hasattr(self, "_release"):
                self._release = get_object_or_404(Release.objects.restrict(self.request.user),
                                                  pk=self.kwargs["release_pk"])
            return self._release

        def get_queryset(self):
            release_pk = self.kwargs.get("release_pk")
            if release_pk is None:  # schema generation
                return model.objects.none()
            self.get_release()
            qs = model.objects.restrict(self.request.user).filter(release_id=release_pk).order_by("created_at", "id")
            if record_type == "communications":  # its audience and messages, read for the whole page at once
                qs = qs.prefetch_related("roles", "teams", "vendors", Prefetch("messages", queryset=(
                    OutboxMessage.objects.only("id", "content_type_id", "object_id", "recipient", "status")
                    .order_by("recipient", "id"))))
            return qs

        def check_create(self, request):
            # Who may write it, and whether its step is open: 403 or 409
            # (invalid_state) before the body is read. The service's own check,
            # repeated under its row lock when the record is written.
            services.record_access_check(model=model, release=self.get_release(), by=request.user)

        def check_update(self, request, instance):
            services.record_access_check(model=model, release=self.get_release(), by=request.user)

        def lock_for_write(self, obj):
            # record_update locks the release, then the record: the same order.
            Release.objects.select_for_update().get(pk=obj.release_id)
            return model.objects.select_for_update().get(pk=obj.pk)

        def perform_create(self, serializer):
            serializer.instance = services.record_add(release_id=self.get_release().pk, record_type=record_type,
                                                      by=self.request.user, **serializer.validated_data)
            self._etag_object = serializer.instance

        def perform_update(self, serializer):
            serializer.instance = services.record_update(record=serializer.instance, by=self.request.user,
                                                         **serializer.validated_data)
            self._etag_object = serializer.instance

    RecordViewSet.__name__ = f"{model.__name__}ViewSet"
    RecordViewSet.__qualname__ = RecordViewSet.__name__
    RecordViewSet.__doc__ = doc
    RecordViewSet.serializer_class = serializer_class
    return RecordViewSet


RECORD_VIEWSETS = {rt: _record_viewset(rt, model) for rt, model in RECORD_TYPES.items()}


@extend_schema_view(
    list=extend_schema(summary="List release activities (cursor-paginated)"),
    retrieve=extend_schema(summary="A release activity", responses={200: TaskSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Plan and assign a release activity (step 3)",
                         responses={201: TaskSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Edit a release activity", parameters=[IF_MATCH],
                                 responses={200: TaskSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a release activity's fields", parameters=[IF_MATCH],
                         responses={200: TaskSerializer, **WRITE_ERRORS}),
)
class TaskViewSet(GuardedWritesMixin,
                  transition_viewset_mixin(Task, services.task_transition, "task_id", TaskSerializer),
                  mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Release activities assigned to people, teams and vendor queues. A vendor
    sees and updates only its own tasks."""

    serializer_class = TaskSerializer
    pagination_class = TaskCursorPagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter]
    filterset_class = TaskFilter
    search_fields = ["title", "vendor_ticket_ref"]

    def get_queryset(self):
        qs = Task.objects.restrict(self.request.user)
        if self.action in ("transitions", "transition"):
            # release_scheduled reads the release; task_actor the team and vendor.
            qs = qs.select_related("release", "assignee_team", "assignee_vendor")
        return qs.order_by("-id")

    def list(self, request, *args, **kwargs):
        # Plain rows, written by the serializer's own function (as releases).
        tz = timezone.get_current_timezone()
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset.values(*TASK_ROW_FIELDS))
        return self.get_paginated_response([task_representation(row, tz) for row in page])

    def check_create(self, request):
        services.task_create_check(by=request.user)

    def check_update(self, request, instance):
        # The fields the body names (the service says which of them this user
        # may change, rather than silently dropping the others); PUT replaces
        # every field.
        def fields():
            if not isinstance(request.data, dict):
                return set()
            writable = {name for name, field in self.get_serializer().fields.items() if not field.read_only}
            return set(request.data) & writable

        services.task_update_check(task=instance, by=request.user, fields=fields, replace=self.action == "update")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        release = data.pop("release")
        if not Release.objects.restrict(self.request.user).filter(pk=release.pk).exists():
            raise Http404
        serializer.instance = services.task_create(release_id=release.pk, by=self.request.user, **data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("release", None)
        serializer.instance = services.task_update(task_id=serializer.instance.pk, by=self.request.user, **data)
        self._etag_object = serializer.instance


__all__ = ["ReleaseViewSet", "TaskViewSet", "RECORD_VIEWSETS"]
