"""Inbound updates from a vendor's system: signed, fresh and never replayed."""
from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from releasemgmt.api import ERRORS, ErrorSerializer, Serializer
from releasemgmt.input_guard import ID_MAX, loads
from releasemgmt.secretbox import SealBroken
from releasemgmt.workflow import name_of
from releases import services
from releases.models import InboundDelivery, Task, Vendor

from .vendors import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

log = logging.getLogger(__name__)


class RawJSONParser(BaseParser):
    """Keep the exact bytes: the signature is over the body as sent."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


class InboundUpdate(Serializer):
    task = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    vendor_ticket_ref = serializers.CharField(required=False, max_length=200)
    transition = serializers.ChoiceField(choices=[name_of(t) for t in (Task.start, Task.complete, Task.block, Task.unblock)],
                                         required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=4000)


def _error(code, detail, http=status.HTTP_400_BAD_REQUEST):
    return Response({"detail": detail, "code": code, "blockers": []}, status=http)


class VendorInboundView(APIView):
    """A vendor's system reports on one of its tasks: its ticket reference
    and/or a task transition. Signed like our outbound calls, with the
    vendor's integration secret, in the three headers below: the signature is
    `v2=` and the hex HMAC-SHA256, under the secret, of six lines joined by
    a newline (none at the end): `v2`, the method, the path (with `?query`
    if the URL has one), the timestamp, the idempotency key, and the hex
    SHA-256 of the body bytes. A wrong or stale signature gets 401, a
    replayed idempotency key 409, and nothing changes."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [RawJSONParser]

    # The signature headers are parameters of the operation, so that a client
    # generated from the schema sends them.
    @extend_schema(summary="Signed update from a vendor's system", request=InboundUpdate, parameters=[
        OpenApiParameter(TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=True,
                         description="Unix seconds when the update was signed; more than 5 minutes off: 401."),
        OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True,
                         description="New for every update, the same on its retries; a key already used: 409."),
        OpenApiParameter(SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True,
                         description="`v2=<hex HMAC-SHA256(secret, string to sign)>` (see the description).")],
                   responses={200: inline_serializer("InboundResult", {"task": serializers.IntegerField(),
                                                                       "state": serializers.CharField(),
                                                                       "vendor_ticket_ref": serializers.CharField()}),
                              400: ERRORS[400],
                              401: OpenApiResponse(ErrorSerializer, description="A missing, stale or wrong signature."),
                              404: OpenApiResponse(ErrorSerializer, description="No such vendor, or not its task."),
                              409: OpenApiResponse(ErrorSerializer, description=(
                                  "A replayed idempotency key, a transition the task's state does not allow, or "
                                  "a vendor without an active user.")),
                              413: ERRORS[413], 429: ERRORS[429]})
    def post(self, request, vendor_id: int):
        vendor = get_object_or_404(Vendor, pk=vendor_id)
        body = request.data if isinstance(request.data, bytes) else b""
        key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
        # The key is signed with the rest: a captured update resent under a
        # new key (to pass the replay check below) no longer verifies.
        try:
            secrets = vendor.verification_secrets()
        except SealBroken:  # SECRET_KEY changed without SECRET_KEY_FALLBACKS
            log.error("vendor %s: its integration secret cannot be unsealed; rotate it", vendor.pk)
            secrets = []
        problem = verify(secrets, method=request.method, path=request.get_full_path(),
                         timestamp=request.headers.get(TIMESTAMP_HEADER), idempotency_key=key, body=body,
                         signature=request.headers.get(SIGNATURE_HEADER))
        if problem:
            return _error("bad_signature", problem, status.HTTP_401_UNAUTHORIZED)
        if not key or len(key) > 200:
            return _error("idempotency_key_required", f"Send an {IDEMPOTENCY_HEADER} header (at most 200 characters).")
        try:
            data = loads(body)
        except ValueError as exc:  # not JSON, or JSON the input rules refuse (releasemgmt.input_guard)
            return _error("parse_error", f"The body is not valid JSON: {exc}")
        update = InboundUpdate(data=data if isinstance(data, dict) else {})
        update.is_valid(raise_exception=True)
        actor = vendor.users.filter(is_active=True).order_by("pk").first()
        if actor is None:
            return _error("no_vendor_user", "This vendor has no active user to act as.", status.HTTP_409_CONFLICT)
        task = Task.objects.filter(pk=update.validated_data["task"], assignee_vendor=vendor).first()
        if task is None:
            return _error("not_found", "This vendor has no such task.", status.HTTP_404_NOT_FOUND)
        try:
            with transaction.atomic():
                InboundDelivery.objects.create(vendor=vendor, idempotency_key=key, payload=data)
                if "vendor_ticket_ref" in update.validated_data:
                    task = services.task_update(task_id=task.pk, by=actor,
                                                vendor_ticket_ref=update.validated_data["vendor_ticket_ref"])
                if name := update.validated_data.get("transition"):
                    task = services.task_transition(task_id=task.pk, name=name, by=actor,
                                                    reason=update.validated_data.get("reason", ""))
        except IntegrityError:
            return _error("replayed", "This idempotency key was already used.", status.HTTP_409_CONFLICT)
        return Response({"task": task.pk, "state": task.state, "vendor_ticket_ref": task.vendor_ticket_ref})
