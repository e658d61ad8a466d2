"""The adapters' webhook endpoints: ``/api/gate/github/{adapter_id}/`` and
``/api/gate/gitlab/{adapter_id}/``.

No user logs in here: the delivery proves itself with the adapter's webhook
secret (GitHub's HMAC signature, GitLab's secret token), then acts as the
adapter's service account. In this order, each refusal changing nothing: an
unknown or inactive adapter 404, a missing or wrong signature 401, no
delivery id or a body that is not a JSON object 400, a delivery id taken
before 409 (a replay), a deployment the platform describes incompletely 400,
and what the process refuses its own way (403, 409 with the blockers).
"""
from __future__ import annotations

import logging

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from releasemgmt.api import ERRORS, ErrorSerializer
from releasemgmt.input_guard import ID_SCHEMA, loads, parse_id
from releasemgmt.secretbox import SealBroken

from ..adapter_models import AdapterKind, PipelineAdapter
from . import checks, common, github, gitlab

log = logging.getLogger(__name__)

MAX_DELIVERY_ID = 200


class RawJSONParser(BaseParser):
    """Keep the exact bytes: GitHub's signature is over the body as sent."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


class AdapterResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=("checking", "ignored", "started", "finished", "not gated"),
        help_text="`checking`: the deployment is being checked at the gate; the answer goes to the platform "
                  "(at once, or when the gate stops saying `awaiting`). `started` / `finished`: a GitLab "
                  "deployment reported to the release. `ignored`: an event the adapter does not act on.")
    check = serializers.IntegerField(required=False, help_text="The check (`checking`), seen in Django admin.")
    deployment = serializers.IntegerField(required=False, help_text="The deployment record (`started`, "
                                                                    "`finished`).")
    release = serializers.CharField(required=False)
    outcome = serializers.CharField(required=False)
    event = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    environment = serializers.CharField(required=False)


def _error(code: str, detail: str, http=status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": detail, "code": code, "blockers": []}, status=http)


class AdapterWebhookView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [RawJSONParser]
    kind: str = ""

    def authenticity_problem(self, request, secret: str, body: bytes) -> str:
        raise NotImplementedError

    def delivery_id(self, request) -> str:
        raise NotImplementedError

    def receive(self, adapter, delivery, event, payload) -> dict:
        raise NotImplementedError

    def handle(self, request, adapter_id):
        pk = parse_id(adapter_id)
        adapter = (PipelineAdapter.objects.select_related("user")
                   .filter(pk=pk, kind=self.kind, active=True, user__is_active=True).first()
                   if pk is not None else None)
        if adapter is None:
            return _error("not_found", "No such adapter (or not an active one).", status.HTTP_404_NOT_FOUND)
        body = request.data if isinstance(request.data, bytes) else b""
        try:
            secret = adapter.webhook_secret()
        except SealBroken:  # SECRET_KEY changed without SECRET_KEY_FALLBACKS
            log.error("adapter %s: its webhook secret cannot be unsealed; set it again", adapter.pk)
            secret = ""
        problem = self.authenticity_problem(request, secret, body)
        if problem:
            log.warning("adapter %s: refused a delivery: %s", adapter.pk, problem)
            return _error("bad_signature", problem, status.HTTP_401_UNAUTHORIZED)
        delivery_id = self.delivery_id(request).strip()
        if not delivery_id or len(delivery_id) > MAX_DELIVERY_ID:
            return _error("delivery_id_required", f"The delivery carries no id (at most {MAX_DELIVERY_ID} "
                                                  "characters), so a replay could not be told apart.")
        try:
            payload = loads(body)
        except ValueError as exc:  # not JSON, or JSON the input rules refuse (releasemgmt.input_guard)
            return _error("parse_error", f"The body is not valid JSON: {exc}")
        if not isinstance(payload, dict):
            return _error("parse_error", "The body is not a JSON object.")
        # From here on the delivery acts as the adapter's service account
        # (a refusal by the process is kept under its name).
        request.user = adapter.user
        event = (request.headers.get(self.event_header) or "")[:100]
        try:
            with transaction.atomic():
                delivery = common.take_delivery(adapter, delivery_id, event)
                result = self.receive(adapter, delivery, event, payload)
                if result["result"] == "checking":
                    # Answered after the commit when tasks run in process,
                    # else by the next run of the periodic task.
                    check_id = result["check"]
                    transaction.on_commit(lambda: checks.answer_in_process(check_id=check_id))
        except common.Replayed:
            return _error("replayed", "This delivery was received before: a replay is refused.",
                          status.HTTP_409_CONFLICT)
        return Response(result, status=status.HTTP_202_ACCEPTED if result["result"] == "checking"
                        else status.HTTP_200_OK)


RESPONSES = {
    200: AdapterResultSerializer,
    202: OpenApiResponse(AdapterResultSerializer, description="A deployment is being checked at the gate."),
    400: ERRORS[400],
    401: OpenApiResponse(ErrorSerializer, description="A missing or wrong signature (secret token): nothing "
                                                      "changes."),
    403: OpenApiResponse(ErrorSerializer, description="The adapter's account may not take this step."),
    404: OpenApiResponse(ErrorSerializer, description="No such adapter, or an inactive one."),
    409: OpenApiResponse(ErrorSerializer, description="A delivery id received before (`replayed`), nothing "
                                                      "changed; or the gate does not allow the deployment reported "
                                                      "(`awaiting`, `prevented`, with the blockers)."),
    413: ERRORS[413], 429: ERRORS[429],
}
ADAPTER_ID = OpenApiParameter("adapter_id", ID_SCHEMA, OpenApiParameter.PATH,
                              description="The adapter's id (Django admin, \"Pipeline adapters\").")


class GitHubWebhookView(AdapterWebhookView):
    """A GitHub App's webhook: `deployment_protection_rule` events (others,
    `ping` included, are taken and ignored). The deployment is checked at the
    gate and the protection rule reviewed through its
    `deployment_callback_url`: `approved`, or `rejected` with the blockers
    as comment; while the gate says `awaiting`, later."""

    kind = AdapterKind.GITHUB
    event_header = github.EVENT_HEADER

    @extend_schema(
        operation_id="gate_github_webhook", summary="GitHub deployment protection rule (webhook)",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[ADAPTER_ID,
                    OpenApiParameter(github.SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True,
                                     description="`sha256=<hex HMAC-SHA256 of the body under the webhook "
                                                 "secret>`; missing or wrong: 401."),
                    OpenApiParameter(github.DELIVERY_HEADER, str, OpenApiParameter.HEADER, required=True,
                                     description="The delivery's GUID; received before: 409."),
                    OpenApiParameter(github.EVENT_HEADER, str, OpenApiParameter.HEADER, required=True,
                                     description="`deployment_protection_rule` (others are ignored).")],
        responses=RESPONSES)
    def post(self, request, adapter_id):
        return self.handle(request, adapter_id)

    def authenticity_problem(self, request, secret, body):
        return github.signature_problem(secret, body, request.headers.get(github.SIGNATURE_HEADER))

    def delivery_id(self, request):
        return request.headers.get(github.DELIVERY_HEADER) or ""

    def receive(self, adapter, delivery, event, payload):
        return github.receive(adapter, delivery, event, payload)


class GitLabWebhookView(AdapterWebhookView):
    """A GitLab project or group hook with deployment events: `blocked`
    deployments (awaiting an approval) are checked at the gate and approved
    or rejected through GitLab's API, with the blockers as comment;
    `running` starts the release's deployment, `success` and `failed` report
    how it ended, through the gate's own services."""

    kind = AdapterKind.GITLAB
    event_header = gitlab.EVENT_HEADER

    @extend_schema(
        operation_id="gate_gitlab_webhook", summary="GitLab deployment events and approvals (webhook)",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[ADAPTER_ID,
                    OpenApiParameter(gitlab.TOKEN_HEADER, str, OpenApiParameter.HEADER, required=True,
                                     description="The hook's secret token (the adapter's webhook secret); "
                                                 "missing or wrong: 401."),
                    OpenApiParameter(gitlab.IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False,
                                     description="The delivery's key, the same on GitLab's retries; received "
                                                 "before: 409."),
                    OpenApiParameter(gitlab.EVENT_UUID_HEADER, str, OpenApiParameter.HEADER, required=False,
                                     description="Without an `Idempotency-Key` (older GitLab): the event's id.")],
        responses=RESPONSES)
    def post(self, request, adapter_id):
        return self.handle(request, adapter_id)

    def authenticity_problem(self, request, secret, body):
        return gitlab.token_problem(secret, request.headers.get(gitlab.TOKEN_HEADER))

    def delivery_id(self, request):
        return request.headers.get(gitlab.IDEMPOTENCY_HEADER) or request.headers.get(gitlab.EVENT_UUID_HEADER) or ""

    def receive(self, adapter, delivery, event, payload):
        return gitlab.receive(adapter, delivery, event, payload)
