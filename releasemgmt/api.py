"""What every endpoint of the REST API shares: error mapping, pagination,
optimistic concurrency (ETag / If-Match) and the transition serializers."""
from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping

from django.core.exceptions import ObjectDoesNotExist, ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.http import Http404, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import refusals, signing
from .input_guard import ID_SCHEMA, not_an_id_message, parse_id
from .workflow import TransitionError

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Domain errors become HTTP once, here: 409 with blockers, 403, 404, 400.
    Every error body is the error object: ``detail`` and ``code``, and for a
    400 the messages of each invalid field beside them."""
    if isinstance(exc, TransitionError):
        # A refusal met inside a transaction of the view's (the If-Match
        # lock) was rolled back with it: keep it now that it has left. A
        # wrong signature is a failed login, and its count went the same
        # way: written again now.
        request = context.get("request")
        refusals.keep(exc, by=getattr(request, "user", None))
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
    if response is None:
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc.detail)
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data.setdefault("code", getattr(response.data["detail"], "code", "error"))
    return response


def validation_error_body(detail) -> dict:
    """A ValidationError's detail as the error object. Field errors keep
    their place (each invalid field maps to its messages) beside ``detail``
    and ``code``; a bare message or list of messages (DRF's SearchFilter
    raises one for a NUL) becomes ``detail`` and ``non_field_errors``."""
    if isinstance(detail, dict):
        body = dict(detail)
        if "detail" in body and not isinstance(body["detail"], (list, dict)):
            body.setdefault("code", getattr(body["detail"], "code", "invalid"))
            return body
        first = _first_message(body)
        fields = [name for name in body if name != "non_field_errors"]
        if fields:
            summary = f"Invalid input in {', '.join(fields[:10])}{'…' if len(fields) > 10 else ''}: {first}"
        else:
            summary = str(first)
        return {"detail": summary, "code": getattr(first, "code", "invalid"), **body}
    messages = detail if isinstance(detail, list) else [detail]
    first = _first_message(messages)
    return {"detail": " ".join(str(m) for m in messages if isinstance(m, str)) or str(first),
            "code": getattr(first, "code", "invalid"), "non_field_errors": messages}


def _first_message(errors):
    """The first message in a (nested) ValidationError detail."""
    stack = [errors]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            return item
    return exceptions.ErrorDetail("Invalid input.", code="invalid")


class StrictPageSizeMixin:
    """A ``page_size`` that is not a whole number from 1 up is a 400, where
    DRF quietly used the default; above the maximum it is capped (DRF's
    documented behaviour). An empty one is the default."""

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        digits = raw.lstrip("0")
        if not (raw.isascii() and raw.isdigit()) or not digits:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"Give a whole number from 1 to {self.max_page_size}."]})
        return self.max_page_size if len(digits) > 6 else min(int(digits), self.max_page_size)


class StandardPagination(StrictPageSizeMixin, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TaskCursorPagination(StrictPageSizeMixin, CursorPagination):
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
    403 (you may not) or 409 (the state forbids it: ``invalid_state``), 412
    (stale If-Match), then 400 (the body, unknown and read-only fields
    included), so a user who may not write gets 403 whatever they send and
    nothing is parsed on their behalf.

    The 403 and 409 come from the service module's own check (the function
    its write calls again under its row lock), which keeps the refusal as a
    refused attempt; the view decides nothing itself."""

    def check_create(self, request) -> None:
        """Call the service's check before the body is validated."""

    def check_update(self, request, instance) -> None:
        """Call the service's check on ``instance`` before the body is validated."""

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


# --- ids ------------------------------------------------------------------------------------


@extend_schema_field(ID_SCHEMA)
class IdRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object given by its id: 400 "not a valid id" for anything
    ``input_guard.parse_id`` does not take (a float, ``1e999``, a number
    beyond the bigint range, a boolean) before the database is asked."""

    def to_internal_value(self, data):
        pk = parse_id(data)
        if pk is None:
            raise serializers.ValidationError(not_an_id_message(data), code="invalid_id")
        return super().to_internal_value(pk)


# --- input: every field a write sends is one it may write ------------------------------

# What a browser's form adds to what it posts (the browsable API's forms):
# not a field of the object.
FORM_ONLY_KEYS = frozenset({"csrfmiddlewaretoken"})


class StrictInput:
    """A write (POST, PUT, PATCH, a transition) that sends a field the
    serializer does not take (a misspelt ``bodyy``) or one it only shows
    (``state``, ``created_at``) is refused with 400 naming each such field,
    before anything is validated or written, where DRF would drop it
    silently and answer 2xx. Every input serializer of the API is one of
    these (``Serializer``, ``ModelSerializer`` below; tests/api checks it),
    nested ones included, so this is decided here once."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            self.refuse_unknown_fields(data)
        return super().to_internal_value(data)

    def refuse_unknown_fields(self, data) -> None:
        fields = self.fields
        writable = sorted(name for name, f in fields.items() if not f.read_only)
        form = isinstance(data, QueryDict)
        errors = {}
        for key in data:
            field = fields.get(key)
            if field is None:
                if form and key in FORM_ONLY_KEYS:
                    continue
                takes = f"it takes {', '.join(writable)}" if writable else "it takes none"
                errors[key] = [exceptions.ErrorDetail(f"Unknown field: {takes}.", code="unknown_field")]
            elif field.read_only:
                errors[key] = [exceptions.ErrorDetail("This field is read-only; nothing was changed.",
                                                      code="read_only")]
        if errors:
            raise exceptions.ValidationError(errors)


class Serializer(StrictInput, serializers.Serializer):
    """The project's Serializer: unknown and read-only fields are refused."""


class NoInput(Serializer):
    """The body of a write that takes none (an action such as capturing a
    baseline): empty, or 400 naming what was sent."""


class ModelSerializer(StrictInput, serializers.ModelSerializer):
    """The project's ModelSerializer: unknown and read-only fields are
    refused, and the relation fields it builds from the model are
    ``IdRelatedField`` (declare ``IdRelatedField`` for the others)."""

    serializer_related_field = IdRelatedField


# --- transitions ------------------------------------------------------------------------


class BlockerSerializer(Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    blockers = BlockerSerializer(many=True, required=False)


def transition_row_serializer(name: str, names: list[str], takes: list[str]):
    return inline_serializer(
        name=name,
        many=True,
        fields={
            "name": serializers.ChoiceField(choices=names),
            "label": serializers.CharField(),
            "target": serializers.CharField(),
            "step": serializers.IntegerField(allow_null=True),
            "allowed": serializers.BooleanField(
                help_text="True when a POST carrying what `requires` lists succeeds (the signature being your "
                          "own): the state, your role and every condition permit it."),
            # Named fields of the transition's body; plain strings, since the
            # same names recur in every resource's list.
            "requires": serializers.ListField(
                child=serializers.CharField(),
                help_text=f"What the POST must carry, among {', '.join(f'`{t}`' for t in takes)}: `reason`, "
                          "`signature`, and any field of the step's own that is needed now "
                          "(`freeze_override_reason` for an emergency release in a freeze window)."),
            "reason_required": serializers.BooleanField(help_text="`reason` is in `requires`."),
            "signature_required": serializers.BooleanField(
                help_text="A signed decision (`signature` is in `requires`): the POST must carry `signature`, the "
                          "acting user's credential."),
            "blockers": BlockerSerializer(many=True),
            "warnings": BlockerSerializer(
                many=True, help_text="What to know before taking the step, without standing in its way (a "
                                     "version older than the CMDB holds, a CI another open release also changes)."),
        },
    )


class SignatureInput(Serializer):
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


def transition_input(model):
    """The body of a transition of ``model``, from its declarations: a
    ``reason`` (kept in the history of any step, required where the step
    says), a ``signature`` if some step is a signed decision, and the fields
    the steps take (the keyword parameters of their methods). Bound to one
    transition (``spec`` in its context), it takes only what that one does;
    anything else is an unknown field (400, ``StrictInput``)."""
    from .workflow import specs

    declared = [spec for spec in specs(model).values() if not spec.internal]
    needing = [spec.name for spec in declared if spec.reason]
    fields = {"reason": serializers.CharField(
        required=False, allow_blank=True, max_length=4000,
        help_text=f"Why; kept in the history. Required by {', '.join(needing)}." if needing else
        "Why; kept in the history.")}
    if any(spec.signed is not None for spec in declared):
        fields["signature"] = signature_field()
    for name in sorted({f for spec in declared for f in spec.fields}):
        taking = [spec.name for spec in declared if name in spec.fields]
        fields[name] = serializers.CharField(
            required=False, allow_blank=True, max_length=4000,
            help_text=f"Taken by {', '.join(taking)}; required when the transition list names it in `requires`.")

    def get_fields(self):
        spec = self.context.get("spec")
        all_fields = super(cls, self).get_fields()
        if spec is None:
            return all_fields
        takes = {"reason", *spec.fields} | ({"signature"} if spec.signed is not None else set())
        return {name: field for name, field in all_fields.items() if name in takes}

    cls = type(f"{model.__name__}TransitionInput", (Serializer,), {**fields, "get_fields": get_fields,
                                                                   "__module__": __name__})
    return cls


# Every 400 is the error object: ``detail`` and ``code``, and beside them
# each invalid field with its messages (``non_field_errors`` for the body as
# a whole).
VALIDATION_ERROR = {
    "type": "object",
    "description": "The error object: `detail` says what is wrong and `code` names it (`invalid` for field "
                   "errors, `parse_error` for a body that cannot be parsed or breaks the input rules, "
                   "`invalid_character` for a control character in the query string). Each invalid field maps "
                   "to a list of messages; `non_field_errors` holds errors of the body as a whole.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["detail", "code"],
    "additionalProperties": {},
}

ERRORS = {400: VALIDATION_ERROR, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer,
          409: ErrorSerializer, 412: ErrorSerializer, 413: ErrorSerializer, 429: ErrorSerializer}
# A read is refused (403) to someone without a role (api_permissions.ProcessReader).
READ_ERRORS = {k: v for k, v in ERRORS.items() if k in (400, 401, 403, 404, 429)}
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
    body = transition_input(model)
    row = transition_row_serializer(f"{label}Transition", names, list(body().fields))

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
            request=body,
            parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=names,
                                         description="The transition, by its contract name."), IF_MATCH],
            responses={200: serializer, **ERRORS},
        )
        @action(detail=True, methods=["post"], url_path=r"transitions/(?P<name>[^/.]+)", filter_backends=[])
        def transition(self, request, name=None, *args, **kwargs):
            """Perform one step with what the transition list says it
            `requires`. 403 when your role may not (`forbidden`) or
            segregation of duties forbids it (`segregation_of_duties`), 409
            when the state (`invalid_state`) or a condition (`blocked`, with
            blockers) does not allow it, 400 without a required reason
            (`reason_required`) or signature (`signature_required`), or with a
            field this transition does not take; 403 `signature_invalid` when
            the signature does not verify; 404 for an unknown name. Nothing
            changes unless it succeeds."""
            obj = self.get_object()
            with self.if_match_held(obj):
                data = body(data=request.data, context={"spec": specs(model).get(name)})
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
