from django.contrib.auth import get_user_model
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import mixins, serializers, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.settings import api_settings

from audit.api import AuditEvidenceView
from changes.api import ProblemViewSet, RfcViewSet
from changes.models import ChangeRequest, Problem
from cmdb.api import BaselineViewSet, CIViewSet
from cmdb.models import ConfigurationItem
from evidence.api import EvidenceFileViewSet
from evidence.models import EvidenceFile
from pipelines.adapters.api import GitHubWebhookView, GitLabWebhookView
from pipelines.api import DeploymentFinishView, DeploymentStartView, GateView
from releases.api.history import RELEASE_HISTORY_PARTS
from releases.api.lookups import FreezeWindowViewSet, TeamViewSet, VendorViewSet
from releases.api.standard_changes import StandardChangeViewSet
from releases.api.queue import MyQueueView
from releases.api.serializers import UserSerializer
from releases.api.templates import ReleaseTemplateViewSet
from releases.api.views import RECORD_VIEWSETS, ReleaseViewSet, TaskViewSet
from releases.models import Release, Task
from reports.api import MetricCsvView, MetricsView
from webhooks.api import WebhookViewSet

from .api import ERRORS, READ_ERRORS, StandardPagination, StrictInput, api_not_found
from .api_history import history_view
from .api_schema import THROTTLED
from .authz import restrict_users
from .history import Part
from .schema_view import SchemaView


@extend_schema_view(list=extend_schema(summary="List users and their roles"),
                    retrieve=extend_schema(summary="A user and their roles",
                                           responses={200: UserSerializer, **READ_ERRORS}))
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Users and the process roles (Django groups) they hold; read-only."""

    serializer_class = UserSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        qs = get_user_model().objects.filter(is_active=True).prefetch_related("groups").order_by("username")
        return restrict_users(qs, self.request.user)

    @extend_schema(summary="The authenticated user and their roles", responses={200: UserSerializer, **READ_ERRORS})
    @action(detail=False, methods=["get"], pagination_class=None, permission_classes=[IsAuthenticated])
    def me(self, request):
        """Who you are, whatever your roles (none included)."""
        return Response(UserSerializer(request.user).data)


class TokenRequestSerializer(StrictInput, AuthTokenSerializer):
    """A username and password; nothing else (``StrictInput``)."""


@extend_schema(
    summary="Obtain an API token",
    request=TokenRequestSerializer,
    responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()}), 400: ERRORS[400],
               429: THROTTLED},
)
class TokenView(ObtainAuthToken):
    """Exchange a username and password for a token; send it as
    `Authorization: Token <key>`."""

    authentication_classes = []
    serializer_class = TokenRequestSerializer
    # ObtainAuthToken names DRF's own parsers; these apply the input rules.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    # ObtainAuthToken turns throttling off; here the anonymous rate applies
    # (per address), beside the per-username lock-out of django-axes.
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except serializers.ValidationError:
            # django-axes marks the (DRF) request when the username is locked
            # out: say so, with Retry-After, rather than "wrong credentials".
            if getattr(request, "axes_locked_out", False):
                from .security import lockout_response

                return lockout_response(request._request)
            raise


router = DefaultRouter()
router.include_root_view = False
router.register("rfcs", RfcViewSet, basename="rfc")
router.register("releases", ReleaseViewSet, basename="release")
router.register("tasks", TaskViewSet, basename="task")
router.register("cis", CIViewSet, basename="ci")
router.register("baselines", BaselineViewSet, basename="baseline")
router.register("users", UserViewSet, basename="user")
router.register("release-templates", ReleaseTemplateViewSet, basename="release-template")
router.register("problems", ProblemViewSet, basename="problem")
router.register("teams", TeamViewSet, basename="team")
router.register("vendors", VendorViewSet, basename="vendor")
router.register("freeze-windows", FreezeWindowViewSet, basename="freeze-window")
router.register("evidence", EvidenceFileViewSet, basename="evidence")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("standard-changes", StandardChangeViewSet, basename="standard-change")

record_urls = []
for record_type, viewset in RECORD_VIEWSETS.items():
    name = f"release-{record_type.replace('_', '-')}"
    record_urls += [
        path(f"releases/<int:release_pk>/{record_type}/",
             viewset.as_view(viewset.list_actions), name=f"{name}-list"),
        path(f"releases/<int:release_pk>/{record_type}/<int:pk>/",
             viewset.as_view(viewset.detail_actions), name=f"{name}-detail"),
    ]

# Each resource's history: (path, model, how its entries name it, the parts merged in).
# An evidence file's upload is part of the history of what it is attached to.
HISTORIES = (("releases", Release, "release", (*RELEASE_HISTORY_PARTS, Part("evidence", EvidenceFile, "release"))),
             ("rfcs", ChangeRequest, "rfc", (Part("evidence", EvidenceFile, "rfc"),)),
             ("tasks", Task, "task", ()), ("cis", ConfigurationItem, "ci", ()),
             ("problems", Problem, "problem", (Part("evidence", EvidenceFile, "problem"),)))
history_urls = [path(f"{prefix}/<int:pk>/history/", history_view(model, name=name, parts=parts).as_view(),
                     name=f"{name}-history") for prefix, model, name, parts in HISTORIES]

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    # The schema and the interactive docs: open by default, as the contract
    # says; a session or a token in production (SchemaAccess, through
    # SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]). The docs page loads its
    # script as a file, which the Content-Security-Policy allows (an inline
    # script it would block).
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
         name="api-docs"),
    path("metrics/", MetricsView.as_view(), name="api-metrics"),
    path("metrics/<str:metric>.csv", MetricCsvView.as_view(), name="api-metric-csv"),
    path("audit/evidence/", AuditEvidenceView.as_view(), name="api-audit-evidence"),
    path("gate/", GateView.as_view(), name="api-gate"),
    path("gate/deployments/", DeploymentStartView.as_view(), name="api-gate-deployments"),
    path("gate/deployments/<str:deployment_id>/finish/", DeploymentFinishView.as_view(),
         name="api-gate-deployment-finish"),
    # The adapters' webhooks: signed deliveries from GitHub and GitLab.
    path("gate/github/<str:adapter_id>/", GitHubWebhookView.as_view(), name="api-gate-github"),
    path("gate/gitlab/<str:adapter_id>/", GitLabWebhookView.as_view(), name="api-gate-gitlab"),
    path("me/queue/", MyQueueView.as_view(), name="api-me-queue"),
    *record_urls,
    *history_urls,
    path("", include(router.urls)),
    re_path(r"", csrf_exempt(api_not_found)),  # last: JSON 404 for anything else under /api/
]
