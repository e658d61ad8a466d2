"""The REST API for releases, their step records, and tasks: it translates
HTTP to the services and back, nothing more."""
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import filters, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from cmdb.api import BaselineSerializer
from releasemgmt.api import ERRORS, ETagMixin, StandardPagination, TaskCursorPagination, transition_viewset_mixin
from releasemgmt.workflow import user_roles

from .. import services
from ..filtersets import ReleaseFilter, TaskFilter
from ..models import RECORD_TYPES, Release, Task
from .serializers import RECORD_SERIALIZERS, ReleaseSerializer, ScopeItemSerializer, TaskSerializer

WRITE_ERRORS = {k: v for k, v in ERRORS.items() if k in (400, 401, 403, 404, 409, 412)}


def vendor_only(user) -> bool:
    """Users whose only role is ``vendor`` see only their vendor's work."""
    return user_roles(user) == frozenset({"vendor"})


def visible_releases(user):
    qs = Release.objects.all()
    if vendor_only(user):
        qs = qs.filter(tasks__assignee_vendor__users=user).distinct()
    return qs


@extend_schema_view(
    list=extend_schema(summary="List releases"),
    retrieve=extend_schema(summary="A release", responses={200: ReleaseSerializer, **ERRORS}),
    create=extend_schema(summary="Raise a release ticket (step 1)", responses={201: ReleaseSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Edit a release ticket", responses={200: ReleaseSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a release ticket's fields", responses={200: ReleaseSerializer,
                                                                                 **WRITE_ERRORS}),
)
class ReleaseViewSet(ETagMixin,
                     transition_viewset_mixin(Release, services.release_transition, "release_id", ReleaseSerializer),
                     mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                     viewsets.GenericViewSet):
    """Release tickets and the 20-step process they go through."""

    serializer_class = ReleaseSerializer
    pagination_class = StandardPagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    filterset_class = ReleaseFilter
    search_fields = ["title", "description"]
    ordering_fields = ["id", "created_at", "planned_start", "planned_end", "state", "title"]
    ordering = ["-id"]

    def get_queryset(self):
        return visible_releases(self.request.user).select_related("release_manager").prefetch_related("rfcs")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.release_create(by=self.request.user, **data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        self.check_if_match(serializer.instance)
        serializer.instance = services.release_update(release_id=serializer.instance.pk, by=self.request.user,
                                                      **serializer.validated_data)
        self._etag_object = serializer.instance

    @extend_schema(summary="Scope: the CIs the release changes, with target versions",
                   responses={200: ScopeItemSerializer(many=True), **ERRORS})
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
        data = ScopeItemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.scope_set(release_id=release.pk, by=request.user, **data.validated_data)
        return Response(ScopeItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Capture the pre-release baseline of the scope (step 5)", request=None,
                   responses={201: BaselineSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path="baseline", filter_backends=[])
    def baseline(self, request, pk=None):
        release = self.get_object()
        baseline = services.release_capture_baseline(release_id=release.pk, by=request.user)
        return Response(BaselineSerializer(baseline).data, status=status.HTTP_201_CREATED)


def _record_viewset(record_type, model):
    serializer_class = RECORD_SERIALIZERS[record_type]
    verbose = model._meta.verbose_name
    doc = (model.__doc__ or verbose).strip().split("\n\n")[0]

    @extend_schema_view(
        list=extend_schema(summary=f"List the release's {model._meta.verbose_name_plural}", description=doc,
                           responses={200: serializer_class(many=True), **ERRORS}),
        retrieve=extend_schema(summary=f"A {verbose}", description=doc, responses={200: serializer_class, **ERRORS}),
        create=extend_schema(summary=f"Add a {verbose}", description=doc,
                             responses={201: serializer_class, **WRITE_ERRORS}),
        partial_update=extend_schema(summary=f"Edit a {verbose}", description=doc,
                                     responses={200: serializer_class, **WRITE_ERRORS}),
    )
    class RecordViewSet(ETagMixin, mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                        mixins.UpdateModelMixin, viewsets.GenericViewSet):
        http_method_names = ["get", "post", "patch", "head", "options"]
        pagination_class = None

        def get_release(self):
            if not hasattr(self, "_release"):
                self._release = get_object_or_404(visible_releases(self.request.user), pk=self.kwargs["release_pk"])
            return self._release

        def get_queryset(self):
            release_pk = self.kwargs.get("release_pk")
            if release_pk is None:  # schema generation
                return model.objects.none()
            self.get_release()
            return model.objects.filter(release_id=release_pk).select_related("created_by").order_by("created_at",
                                                                                                     "id")

        def perform_create(self, serializer):
            serializer.instance = services.record_add(release_id=self.get_release().pk, record_type=record_type,
                                                      by=self.request.user, **serializer.validated_data)
            self._etag_object = serializer.instance

        def perform_update(self, serializer):
            self.check_if_match(serializer.instance)
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
    retrieve=extend_schema(summary="A release activity", responses={200: TaskSerializer, **ERRORS}),
    create=extend_schema(summary="Plan and assign a release activity (step 3)",
                         responses={201: TaskSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Edit a release activity", responses={200: TaskSerializer, **WRITE_ERRORS}),
    update=extend_schema(summary="Replace a release activity's fields", responses={200: TaskSerializer,
                                                                                   **WRITE_ERRORS}),
)
class TaskViewSet(ETagMixin, transition_viewset_mixin(Task, services.task_transition, "task_id", TaskSerializer),
                  mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Release activities assigned to people, teams and vendor queues. A vendor
    sees and updates only its own tasks."""

    serializer_class = TaskSerializer
    pagination_class = TaskCursorPagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter]
    filterset_class = TaskFilter
    search_fields = ["title", "vendor_ticket_ref"]

    def get_queryset(self):
        qs = Task.objects.all()
        user = self.request.user
        if vendor_only(user):
            qs = qs.filter(assignee_vendor__users=user)
        return qs.order_by("-id")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        release = data.pop("release")
        if not visible_releases(self.request.user).filter(pk=release.pk).exists():
            from django.http import Http404

            raise Http404
        serializer.instance = services.task_create(release_id=release.pk, by=self.request.user, **data)
        self._etag_object = serializer.instance

    def perform_update(self, serializer):
        self.check_if_match(serializer.instance)
        data = dict(serializer.validated_data)
        data.pop("release", None)
        serializer.instance = services.task_update(task_id=serializer.instance.pk, by=self.request.user, **data)
        self._etag_object = serializer.instance


__all__ = ["ReleaseViewSet", "TaskViewSet", "RECORD_VIEWSETS", "Q", "OpenApiResponse"]
