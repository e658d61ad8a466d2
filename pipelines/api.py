"""The deployment gate over the REST API: what a CI/CD pipeline calls.

``GET /api/gate/`` answers whether a release may deploy now;
``POST /api/gate/deployments/`` starts its deployment when the gate allows
it; ``POST /api/gate/deployments/{id}/finish/`` reports how it ended. These
views translate HTTP to ``pipelines.gate`` and ``pipelines.services`` and
back, nothing more. They take a pipeline's gate token (``pipelines.auth``)
as well as a user's own token or session.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from releasemgmt.api import (
    READ_ERRORS, WRITE_ERRORS, BlockerSerializer, ErrorSerializer, ModelSerializer, Serializer, StrictInput,
)
from releasemgmt.input_guard import ID_SCHEMA, parse_id
from releases.choices import DeploymentOutcome, ReleaseState
from releases.models import Deployment, Release

from . import gate, services

DEFAULT_ENVIRONMENT = "production"


# --- what the gate is asked ---------------------------------------------------------------------


class GateQuery(serializers.Serializer):
    release = serializers.CharField(required=False, max_length=30,
                                    help_text="The release: its id (`12`) or number (`REL-00012`).")
    ci = serializers.CharField(required=False, max_length=200,
                               help_text="Instead of `release`: the configuration item deployed, by name.")
    version = serializers.CharField(required=False, max_length=100,
                                    help_text="With `ci`: the version deployed (the release scope's target version).")
    environment = serializers.CharField(required=False, default=DEFAULT_ENVIRONMENT, max_length=100,
                                        help_text="Where it is deployed. Only the gated environments "
                                                  "(`GATE_ENVIRONMENTS`, by default `production`) need a release.")

    def validate(self, data):
        if gate.not_gated(data["environment"]):
            return data  # allowed without a release: nothing to look up
        given_release, given_ci = "release" in data, "ci" in data or "version" in data
        if given_release == given_ci:
            raise serializers.ValidationError({"release": ["Give either `release`, or `ci` and `version`."]})
        if given_release and gate.release_pk(data["release"]) is None:
            raise serializers.ValidationError(
                {"release": ["Not a release: give its id (12) or its number (REL-00012)."]}, code="invalid_id")
        if given_ci and not (data.get("ci") and data.get("version")):
            raise serializers.ValidationError({"version" if data.get("ci") else "ci": ["Give `ci` and `version`."]})
        return data


class DeploymentStartInput(StrictInput, GateQuery):
    """A pipeline's report that it starts deploying: unknown fields refused, as every write of the API."""

    run_url = serializers.URLField(max_length=500, help_text="The pipeline run that deploys (kept on the "
                                                             "deployment record and in the history).")
    commit = serializers.CharField(required=False, default="", allow_blank=True, max_length=100,
                                   help_text="The revision deployed.")


class DeploymentFinishInput(Serializer):
    outcome = serializers.ChoiceField(choices=DeploymentOutcome.values,
                                      help_text="`succeeded` completes the deployment; `failed` records the "
                                                "failure and asks for rollback advice.")
    log_url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True,
                                   help_text="The log of the run.")


def requested_release(user, data) -> Release | None:
    """The release asked about: by id or number (404 when there is none the
    user may read), or the open one for the CI and version (None if none)."""
    if "release" in data:
        release = Release.objects.restrict(user).filter(pk=gate.release_pk(data["release"])).first()
        if release is None:
            raise exceptions.NotFound("No such release (or not one you may see).")
        return release
    return gate.open_release_for(user, data["ci"], data["version"])


# --- what it answers ------------------------------------------------------------------------


class GateReleaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    state = serializers.ChoiceField(choices=ReleaseState.values)


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)


class GateDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=gate.DECISIONS, help_text="`allowed`: start the deployment now. `awaiting`: the release is on its "
                                          "way; ask again later. `prevented`: it cannot deploy; stop.")
    environment = serializers.CharField()
    gated = serializers.BooleanField(help_text="false: this environment is not gated; no release is needed.")
    release = GateReleaseSerializer(allow_null=True)
    blockers = BlockerSerializer(many=True, help_text="What stands in the way, in the guards' own words.")
    window = WindowSerializer(allow_null=True, help_text="The release's planned window, the one its deployment "
                                                         "must start in.")


class GateDeploymentSerializer(ModelSerializer):
    release = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = ["id", "release", "environment", "run_url", "commit", "started_at", "completed_at", "outcome",
                  "failed_at", "log_url"]

    @extend_schema_field(GateReleaseSerializer)
    def get_release(self, deployment) -> dict:
        release = deployment.release
        return GateReleaseSerializer({"id": release.pk, "number": release.number, "state": release.state}).data


class GateClosedSerializer(ErrorSerializer):
    code = serializers.ChoiceField(choices=(gate.AWAITING, gate.PREVENTED, "invalid_state", "blocked",
                                            "concurrent_transition"))


GATE_PARAMETERS = [
    OpenApiParameter("release", OpenApiTypes.STR, description="The release: its id (`12`) or number (`REL-00012`)."),
    OpenApiParameter("ci", OpenApiTypes.STR, description="Instead of `release`: the configuration item, by name."),
    OpenApiParameter("version", OpenApiTypes.STR, description="With `ci`: the version deployed."),
    OpenApiParameter("environment", OpenApiTypes.STR, description="Where it is deployed (default `production`)."),
]


class GateView(APIView):
    """May this release deploy now? `allowed`, `awaiting` (poll again) or
    `prevented` (stop), with the blockers in the words of the process's
    guards. Poll it until the answer is not `awaiting`."""

    accepts_gate_tokens = True

    @extend_schema(operation_id="gate", summary="The deployment gate: may this release deploy now?",
                   parameters=GATE_PARAMETERS, responses={200: GateDecisionSerializer, **READ_ERRORS})
    def get(self, request):
        # An optional parameter given empty is as if it were absent (as the schema says).
        query = GateQuery(data={name: value for name, value in request.query_params.items() if value != ""})
        query.is_valid(raise_exception=True)
        data = query.validated_data
        release = None if gate.not_gated(data["environment"]) else requested_release(request.user, data)
        decision = gate.decide(release, request.user, environment=data["environment"], ci=data.get("ci"))
        gate.announce(decision, request.user)
        return Response(GateDecisionSerializer(decision.as_dict()).data)


class DeploymentStartView(APIView):
    """Start the release's deployment (`start_deployment`, step 12) for a
    pipeline, when the gate allows it: 201 with the deployment record, 409
    with the gate's blockers otherwise (nothing changes). For an environment
    that is not gated: 200 with the gate's answer, nothing recorded."""

    accepts_gate_tokens = True

    @extend_schema(operation_id="gate_deployment_start", summary="Start a deployment through the gate",
                   request=DeploymentStartInput,
                   responses={201: GateDeploymentSerializer,
                              200: OpenApiResponse(GateDecisionSerializer, description="Not a gated environment: "
                                                   "nothing is recorded."),
                              409: OpenApiResponse(GateClosedSerializer, description=(
                                  "The gate does not allow it: `code` is `awaiting` or `prevented`, with the "
                                  "blockers; or another start won the race (`invalid_state`).")),
                              **{k: v for k, v in WRITE_ERRORS.items() if k not in (409, 412)}})
    def post(self, request):
        services.deployment_start_check(by=request.user)
        body = DeploymentStartInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        environment = data["environment"]
        if gate.not_gated(environment):
            decision = gate.decide(None, request.user, environment=environment)
            return Response(GateDecisionSerializer(decision.as_dict()).data)
        release = requested_release(request.user, data)
        if release is None:
            decision = gate.decide(None, request.user, environment=environment, ci=data.get("ci"))
            raise services.GateClosed(gate.start_spec().name, decision.blockers[0].message, decision.blockers,
                                      code=decision.decision)
        deployment = services.deployment_start(release=release, by=request.user, environment=environment,
                                               run_url=data["run_url"], commit=data["commit"])
        deployment = Deployment.objects.select_related("release").get(pk=deployment.pk)
        return Response(GateDeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentFinishView(APIView):
    """Report how the deployment ended. `succeeded`: the release completes
    it (`complete_deployment`; 409 with the blockers if, say, a deployment
    task is still open). `failed`: recorded on the deployment, which can then
    not be completed (the release does not reach its health check), and the
    delivery and change managers are asked for their advice on a rollback."""

    accepts_gate_tokens = True

    @extend_schema(operation_id="gate_deployment_finish", summary="Report how a deployment ended",
                   parameters=[OpenApiParameter("deployment_id", ID_SCHEMA, OpenApiParameter.PATH,
                                                description="The deployment's id, as the start answered it.")],
                   request=DeploymentFinishInput,
                   responses={200: GateDeploymentSerializer, **{k: v for k, v in WRITE_ERRORS.items() if k != 412}})
    def post(self, request, deployment_id):
        pk = parse_id(deployment_id)
        deployment = (Deployment.objects.restrict(request.user).select_related("release").filter(pk=pk).first()
                      if pk is not None else None)
        if deployment is None:
            raise exceptions.NotFound("No such deployment (or not one you may see).")
        services.deployment_finish_check(deployment=deployment, by=request.user)
        body = DeploymentFinishInput(data=request.data)
        body.is_valid(raise_exception=True)
        deployment = services.deployment_finish(deployment=deployment, by=request.user, **body.validated_data)
        return Response(GateDeploymentSerializer(deployment).data)
