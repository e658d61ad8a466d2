"""What every endpoint of the REST API shares: error mapping, pagination,
optimistic concurrency (ETag / If-Match) and the transition serializers."""
from __future__ import annotations

import contextlib
import hashlib
import logging

from django.core.exceptions import ObjectDoesNotExist, ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import signing
from .workflow import TransitionError, TransitionForbidden, has_any_role, user_roles

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Domain errors become HTTP once, here: 409 with blockers, 403, 404, 400."""
    if isinstance(exc, TransitionError):
        # A wrong signature is a failed login; if the view held a
        # transaction of its own around the service (If-Match), the count
        # the service wrote went with it: written again now.
        signing.count_failure(exc)
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


# --- who may write -------------------------------------------------------------------
#
# The services decide who may do what, and they still do. The views repeat the
# role check *before* reading the body, so a user who may not write gets 403
# whatever they send (never a 400 that tells them how to fix a request they
# may not make), and nothing is parsed or validated on their behalf.


def require_roles(user, roles, action: str, detail: str) -> None:
    """403 (code ``forbidden``) unless ``user`` holds one of ``roles``."""
    if not has_any_role(user, roles):
        raise TransitionForbidden(action, detail)


def require_any_role(user, action: str, detail: str) -> None:
    """403 unless ``user`` holds some role of the release process."""
    if not user_roles(user):
        raise TransitionForbidden(action, detail)


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
    return etag_from(type(obj).__name__, obj.pk, stamp, getattr(obj, "state", ""))


def etag_from(model_name: str, pk, stamp, state: str = "") -> str:
    """The ETag of a row read without its model instance (as ``etag_for``)."""
    raw = f"{model_name}:{pk}:{stamp.isoformat() if stamp else ''}:{state}"
    return '"' + hashlib.sha1(raw.encode()).hexdigest()[:20] + '"'


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The object changed since you read it (If-Match does not match its ETag); reload and retry."
    default_code = "precondition_failed"


class ETagMixin:
    """Detail responses carry an ETag; a write with a stale If-Match gets 412."""

    def filter_queryset(self, queryset):
        # Query filters choose among the rows of a list; a row addressed by
        # its id is not filtered (nor are the transition actions). This also
        # spares every detail request building the list's filter form.
        if getattr(self, "detail", False):
            return queryset
        return super().filter_queryset(queryset)

    def check_if_match(self, obj):
        header = self.request.headers.get("If-Match")
        if header and header.strip() != "*" and etag_for(obj) not in [t.strip() for t in header.split(",")]:
            raise PreconditionFailed()

    def lock_for_write(self, obj):
        """Lock the rows the service's write will lock, in the service's
        order, and return ``obj`` as locked."""
        return type(obj).objects.select_for_update().get(pk=obj.pk)

    @contextlib.contextmanager
    def if_match_held(self, obj):
        """With an If-Match header: check it on the locked row and hold the
        lock until the write commits, so two writers holding the same ETag
        cannot both pass the check (the second gets 412, not a lost update)."""
        if not self.request.headers.get("If-Match"):
            yield
            return
        with transaction.atomic():
            self.check_if_match(self.lock_for_write(obj))
            yield

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


# --- writes: checks that come before the body is read --------------------------------


class GuardedWritesMixin(ETagMixin):
    """Create and update in the order a client expects: 404 (no such object),
    403 (you may not) or 409 (its step is closed), 412 (stale If-Match), then
    400 (the body). The service checks everything again under its row lock."""

    def check_create(self, request) -> None:
        """Raise before the body is validated when this user may not create."""

    def check_update(self, request, instance) -> None:
        """Raise before the body is validated when this user may not edit ``instance``."""

    def create(self, request, *args, **kwargs):
        self.check_create(request)
        return super().create(request, *args, **kwargs)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        self.check_update(request, instance)
        with self.if_match_held(instance):
            serializer = self.get_serializer(instance, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            self.perform_update(serializer)
        return Response(serializer.data)


# --- who sees what ---------------------------------------------------------------------


def vendor_only(user) -> bool:
    """Users whose only role is ``vendor`` see only their vendor's work."""
    return user_roles(user) == frozenset({"vendor"})


def visible_releases(user):
    """Releases this user may see: all of them, except for a vendor, who sees
    the releases in which its vendor has an activity."""
    from releases.models import Release

    qs = Release.objects.all()
    if vendor_only(user):
        qs = qs.filter(pk__in=Release.objects.filter(tasks__assignee_vendor__users=user).values("pk"))
    return qs


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
            "signature_required": serializers.BooleanField(
                help_text="A signed decision: the POST must carry `signature`, the acting user's credential."),
            "blockers": BlockerSerializer(many=True),
        },
    )


class SignatureInput(serializers.Serializer):
    """The signer's credential, given again at the moment of a signed
    decision (``releasemgmt.signing``). Local accounts sign with their
    password. It is checked like a login: a wrong one is 403
    (`signature_invalid`) and counts as a failed login; after too many the
    user is locked out (429, `locked_out`)."""

    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096,
                                     style={"input_type": "password"},
                                     help_text="The acting user's password.")

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        if not values:  # a partial update does not make the password optional
            raise serializers.ValidationError({"password": ["This field is required."]}, code="required")
        return signing.credential_from(values)


def signature_field(**kwargs):
    return SignatureInput(
        required=False, allow_null=True, write_only=True,
        help_text="Required by signed decisions (`signature_required` in the transition list): "
                  '`{"password": "<your password>"}`. Without it: 400 `signature_required`; wrong: 403 '
                  "`signature_invalid`; locked out: 429 `locked_out`. Nothing changes unless it verifies.",
        **kwargs)


class TransitionInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=4000,
                                   help_text="Why; required by reject_plan, no_go, cancel, block.")
    signature = signature_field()
    freeze_override_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=4000,
        help_text="start_deployment of an emergency release inside a freeze window.")


# A 400 maps each invalid field to its messages (``non_field_errors`` for the
# body as a whole); a body that is not JSON gets ``detail`` and ``code``.
VALIDATION_ERROR = {
    "type": "object",
    "description": "Field errors: each invalid field maps to a list of messages; `non_field_errors` holds "
                   "errors of the body as a whole. A body that cannot be parsed gets `detail` and "
                   "`code` (`parse_error`).",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {},
}

ERRORS = {400: VALIDATION_ERROR, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer,
          409: ErrorSerializer, 412: ErrorSerializer}
# Signed decisions (a transition, a CAB vote) may also meet the lock-out.
SIGNED_ERRORS = {**ERRORS, 429: ErrorSerializer}
READ_ERRORS = {k: v for k, v in ERRORS.items() if k in (401, 404)}
WRITE_ERRORS = dict(ERRORS)

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="The ETag of the object as you read it; if it has changed since, the request gets 412 and "
                "changes nothing.")

__all__ = ["extend_schema", "extend_schema_view"]


def transition_viewset_mixin(model, service, id_kwarg: str, serializer):
    """The transition list and the transition action for a resource whose
    state machine is declared on ``model``; ``service`` performs one step."""
    from rest_framework.decorators import action

    from .workflow import available, specs

    names = [n for n, spec in specs(model).items() if not spec.internal]
    label = model.__name__
    row = transition_row_serializer(f"{label}Transition", names)

    class Mixin:
        @extend_schema(summary=f"Transitions of the {model._meta.verbose_name}'s current state",
                       responses={200: row, **READ_ERRORS})
        @action(detail=True, methods=["get"], url_path="transitions", pagination_class=None, filter_backends=[])
        def transitions(self, request, *args, **kwargs):
            """Every transition defined for the current state, with `allowed`
            and the blockers that stand in the way for this user."""
            return Response(available(self.get_object(), request.user))

        @extend_schema(
            summary=f"Perform a transition of the {model._meta.verbose_name}",
            request=TransitionInput,
            parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=names,
                                         description="The transition, by its contract name."), IF_MATCH],
            responses={200: serializer, **(SIGNED_ERRORS if any(specs(model)[n].signed for n in names) else ERRORS)},
        )
        @action(detail=True, methods=["post"], url_path=r"transitions/(?P<name>[^/.]+)", filter_backends=[])
        def transition(self, request, name=None, *args, **kwargs):
            """Perform one step. 409 with blockers when the state or a guard
            does not allow it, 403 when your role may not, 404 for an unknown
            name. A signed decision (`signature_required` in the list) needs
            `signature`: 400 `signature_required` without it, 403
            `signature_invalid` when it does not verify. Nothing changes
            unless it succeeds."""
            obj = self.get_object()
            with self.if_match_held(obj):
                data = TransitionInput(data=request.data)
                data.is_valid(raise_exception=True)
                obj = service(**{id_kwarg: obj.pk}, name=name, by=request.user, **data.validated_data)
            obj = self.get_queryset().get(pk=obj.pk)
            self._etag_object = obj
            return Response(self.get_serializer(obj).data)

    return Mixin


def api_not_found(request, *args, **kwargs):
    """Any other path under /api/ (an id that is not a number, say): the
    API's JSON 404, not the HTML page of the browser UI."""
    from django.http import JsonResponse

    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
