"""The history of an object over the API (``GET /api/<resource>/{id}/history/``):
every transition and every record change, oldest first, a page at a time.

What an entry says is assembled once, in ``releasemgmt.history``; this
module only shows it to whoever may read the object (its model's
``restrict``: 404 otherwise, as the detail route answers) and paginates it
as every list of the API is paginated."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from . import entrypoints
from .api import READ_ERRORS, StandardPagination
from .history import CHANGE, CHANGE_TYPES, TRANSITION, ObjectHistory, Part


class SignatureEntrySerializer(serializers.Serializer):
    signer = serializers.IntegerField(help_text="The signer's user id.")
    signer_username = serializers.CharField(help_text="The signer's username as it was when they signed.")
    meaning = serializers.CharField(help_text="What the signer decided: the transition, or `vote: approve`.")
    method = serializers.CharField(help_text="How the signer proved who they were (`password`).")
    at = serializers.DateTimeField()
    fingerprint = serializers.CharField(help_text="SHA-256 (hex) of the document signed.")
    entry_point = serializers.ChoiceField(choices=entrypoints.ENTRY_POINTS,
                                          help_text="The door the decision came through.")


class TransitionEntrySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The transition, by its contract name.")
    label = serializers.CharField()
    # "from" is a Python keyword: the field is named in get_fields.
    to = serializers.CharField(help_text="The state it led to.")
    step = serializers.IntegerField(allow_null=True, help_text="The step of the process (releases).")
    reason = serializers.CharField(allow_blank=True, help_text="The reason given (blank when none).")
    payload = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="What the step took beyond the reason, e.g. `freeze_override_reason`.")
    entry_point = serializers.ChoiceField(
        choices=entrypoints.ENTRY_POINTS, allow_null=True,
        help_text="The door the step came through, where it was recorded (signed decisions); null elsewhere.")
    signature = SignatureEntrySerializer(allow_null=True, help_text="The signature of a signed decision; "
                                                                    "null when the step is not signed.")

    def get_fields(self):
        fields = super().get_fields()
        return {"name": fields.pop("name"), "label": fields.pop("label"),
                "from": serializers.CharField(help_text="The state it left."), **fields}


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    # Values as the resource shows them: text, numbers, booleans, ISO 8601
    # date-times, ids of related objects (lists of ids for many-to-many).
    to = serializers.JSONField(allow_null=True)

    def get_fields(self):
        fields = super().get_fields()
        return {"field": fields.pop("field"), "from": serializers.JSONField(allow_null=True), **fields}


class ChangeEntrySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(CHANGE_TYPES.values()))
    reason = serializers.CharField(allow_blank=True, help_text="Why the row was saved, where the writer said "
                                                               "(a transition's name, `create`, `update`).")
    fields = FieldChangeSerializer(many=True, help_text="What changed, from what to what: on `created`, every "
                                                        "field given a value; empty on `deleted`.")
    signature = SignatureEntrySerializer(allow_null=True, help_text="On the creation of a signed record (a CAB "
                                                                    "vote): its signature; null elsewhere.")


class HistoryEntrySerializer(serializers.Serializer):
    """One entry of an object's history: a transition (``transition``) or a
    change of a record (``change``); the other is null."""

    id = serializers.CharField(help_text="Stable: `transition:<n>` or `<subject_type>:<n>`.")
    kind = serializers.ChoiceField(choices=[TRANSITION, CHANGE])
    at = serializers.DateTimeField()
    actor = serializers.IntegerField(allow_null=True, help_text="The user id; null for the system.")
    actor_username = serializers.CharField(allow_null=True)
    subject_type = serializers.CharField(
        help_text="What the entry is about: the object itself (`release`, `rfc`, `task`, `ci`, `problem`) or, in "
                  "a release's history, one of its tasks (`task`), its scope (`scope`) or a step record, by "
                  "the record type of `/api/releases/{id}/{record_type}/` (`plans`, `votes`, ...).")
    subject_id = serializers.IntegerField()
    transition = TransitionEntrySerializer(allow_null=True)
    change = ChangeEntrySerializer(allow_null=True)


def history_view(model, *, name: str, parts: tuple[Part, ...] = ()):
    """The history endpoint of ``model`` (entries naming it ``name``), with
    the histories of its ``parts`` merged in."""
    verbose = model._meta.verbose_name

    @extend_schema(
        summary=f"History of a {verbose}",
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description=f"The {verbose}'s id.")],
        responses={200: HistoryEntrySerializer(many=True), **READ_ERRORS},
    )
    class HistoryView(generics.ListAPIView):
        pagination_class = StandardPagination
        serializer_class = HistoryEntrySerializer
        filter_backends = []

        def get_queryset(self):
            return model.objects.none()  # what the schema reads; list() reads the history

        def list(self, request, *args, **kwargs):
            pk = get_object_or_404(model.objects.restrict(request.user).values_list("pk", flat=True),
                                   pk=self.kwargs["pk"])
            history = ObjectHistory(model, pk, name=name, user=request.user, parts=parts)
            page = self.paginate_queryset(history.keys())
            return self.get_paginated_response(history.entries(page))

    HistoryView.__name__ = HistoryView.__qualname__ = f"{model.__name__}HistoryView"
    HistoryView.__doc__ = (
        f"Everything that happened to the {verbose}, oldest first: each transition (who, when, from, to, the "
        f"reason, and the signature of a signed decision) and each change of its records (who, when, which "
        f"fields from what to what)" + (", its step records', its scope's and its tasks' (those you may see)"
                                        if parts else "") + ". Paginated like every list.")
    return HistoryView
