"""What every endpoint of the REST API shares: error mapping, pagination,
optimistic concurrency (ETag / If-Match) and the transition serializers."""
from __future__ import annotations

import hashlib
import logging

from django.core.exceptions import ObjectDoesNotExist, ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .workflow import TransitionError

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Domain errors become HTTP once, here: 409 with blockers, 403, 404, 400."""
    if isinstance(exc, TransitionError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, ObjectDoesNotExist):
        exc = Http404()
    elif isinstance(exc, ProtectedError):
        return Response({"detail": "This record is referenced by others and cannot be deleted.", "code": "protected",
                         "blockers": []}, status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data.setdefault("code", getattr(response.data["detail"], "code", "error"))
    return response


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TaskCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-id",)


# --- optimistic concurrency ---------------------------------------------------------


def etag_for(obj) -> str:
    stamp = getattr(obj, "updated_at", None) or getattr(obj, "created_at", None)
    raw = f"{type(obj).__name__}:{obj.pk}:{stamp.isoformat() if stamp else ''}:{getattr(obj, 'state', '')}"
    return '"' + hashlib.sha1(raw.encode()).hexdigest()[:20] + '"'


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The object changed since you read it (If-Match does not match its ETag); reload and retry."
    default_code = "precondition_failed"


class ETagMixin:
    """Detail responses carry an ETag; a write with a stale If-Match gets 412."""

    def check_if_match(self, obj):
        header = self.request.headers.get("If-Match")
        if header and header.strip() != "*" and etag_for(obj) not in [t.strip() for t in header.split(",")]:
            raise PreconditionFailed()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        obj = getattr(self, "_etag_object", None)
        if obj is not None and 200 <= response.status_code < 300:
            response["ETag"] = etag_for(obj)
        return response

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        self._etag_object = instance
        return Response(self.get_serializer(instance).data)


# --- transitions ------------------------------------------------------------------------


class BlockerSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    blockers = BlockerSerializer(many=True, required=False)


def transition_row_serializer(name: str, names: list[str]):
    return inline_serializer(
        name=name,
        many=True,
        fields={
            "name": serializers.ChoiceField(choices=names),
            "label": serializers.CharField(),
            "target": serializers.CharField(),
            "step": serializers.IntegerField(allow_null=True),
            "allowed": serializers.BooleanField(),
            "reason_required": serializers.BooleanField(),
            "blockers": BlockerSerializer(many=True),
        },
    )


class TransitionInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=4000,
                                   help_text="Why; required by reject_plan, no_go, cancel, block.")
    freeze_override_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=4000,
        help_text="start_deployment of an emergency release inside a freeze window.")


ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer,
          409: ErrorSerializer, 412: ErrorSerializer}

__all__ = ["extend_schema", "extend_schema_view"]


def transition_viewset_mixin(model, service, id_kwarg: str, serializer):
    """The transition list and the transition action for a resource whose
    state machine is declared on ``model``; ``service`` performs one step."""
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter
    from rest_framework.decorators import action

    from .workflow import available, specs

    names = [n for n, spec in specs(model).items() if not spec.internal]
    label = model.__name__
    row = transition_row_serializer(f"{label}Transition", names)

    class Mixin:
        @extend_schema(summary=f"Transitions of the {model._meta.verbose_name}'s current state",
                       responses={200: row, **{k: v for k, v in ERRORS.items() if k in (401, 404)}})
        @action(detail=True, methods=["get"], url_path="transitions", pagination_class=None, filter_backends=[])
        def transitions(self, request, *args, **kwargs):
            """Every transition defined for the current state, with `allowed`
            and the blockers that stand in the way for this user."""
            return Response(available(self.get_object(), request.user))

        @extend_schema(
            summary=f"Perform a transition of the {model._meta.verbose_name}",
            request=TransitionInput,
            parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=names,
                                         description="The transition, by its contract name.")],
            responses={200: serializer, **ERRORS},
        )
        @action(detail=True, methods=["post"], url_path=r"transitions/(?P<name>[a-z_]+)", filter_backends=[])
        def transition(self, request, name=None, *args, **kwargs):
            """Perform one step. 409 with blockers when the state or a guard
            does not allow it, 403 when your role may not, 404 for an unknown
            name; nothing changes unless it succeeds."""
            obj = self.get_object()
            self.check_if_match(obj)
            data = TransitionInput(data=request.data)
            data.is_valid(raise_exception=True)
            obj = service(**{id_kwarg: obj.pk}, name=name, by=request.user, **data.validated_data)
            obj = self.get_queryset().get(pk=obj.pk)
            self._etag_object = obj
            return Response(self.get_serializer(obj).data)

    return Mixin
