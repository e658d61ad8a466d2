"""The release calendar over HTTP: JSON entries for integrations, and
iCalendar feeds (all, per team, per CI, per release, and a private per-user
URL that calendar clients can subscribe to without logging in)."""
from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from django.core.exceptions import ValidationError as DjangoValidationError

from cmdb.models import ConfigurationItem
from releasemgmt.filters import UtcIsoDateTimeField
from releasemgmt.authz import reader
from releasemgmt.input_guard import ID_SCHEMA, not_an_id_message, parse_id
from releases.models import CalendarToken, Release, Team

from .cache import cached_feed
from .entries import calendar_window, entries, to_ical

FILTERS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="From (default: 30 days ago)."),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="Until (default: 90 days ahead)."),
    OpenApiParameter("team", ID_SCHEMA, description="Only this team's releases and tasks."),
    OpenApiParameter("ci", ID_SCHEMA, description="Only releases touching this CI, and its freezes."),
    OpenApiParameter("release", ID_SCHEMA, description="Only this release."),
    OpenApiParameter("mine", OpenApiTypes.BOOL, description="Only what concerns the authenticated user."),
]

EntrySerializer = inline_serializer("CalendarEntry", {
    "uid": serializers.CharField(),
    "kind": serializers.ChoiceField(choices=["release_window", "deployment_window", "task", "freeze"]),
    "title": serializers.CharField(),
    "start": serializers.DateTimeField(),
    "end": serializers.DateTimeField(),
    "sequence": serializers.IntegerField(),
    "url": serializers.CharField(),
    "release": serializers.IntegerField(allow_null=True),
    "state": serializers.CharField(),
}, many=True)


def _date(params, name):
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({name: "Give an ISO 8601 date and time, e.g. 2026-12-01T00:00:00Z."})
    try:
        return UtcIsoDateTimeField().to_python(value)
    except DjangoValidationError as exc:
        raise ValidationError({name: exc.messages}) from exc


def _int(params, name):
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if (pk := parse_id(raw)) is None:
        raise ValidationError({name: not_an_id_message(raw)})
    return pk


def feed_filters(request) -> dict:
    """The ``entries`` arguments the request's query asks for, checked: what
    the requesting user may see, narrowed by the filters (a team, CI or
    release they may not see is not found)."""
    params = request.query_params
    viewer = request.user
    start, end = _date(params, "start"), _date(params, "end")
    if start and end and end <= start:
        raise ValidationError({"end": "The end must be after the start."})
    start, end = calendar_window(start, end)
    kwargs = {"viewer": viewer, "start": start, "end": end}
    if (team := _int(params, "team")) is not None:
        kwargs["team"] = get_object_or_404(Team.objects.restrict(viewer), pk=team)
    if (ci := _int(params, "ci")) is not None:
        kwargs["ci"] = get_object_or_404(ConfigurationItem.objects.restrict(viewer), pk=ci)
    if (release := _int(params, "release")) is not None:
        kwargs["release"] = get_object_or_404(Release.objects.restrict(viewer), pk=release)
    if params.get("mine") in ("1", "true", "yes") or not reader(viewer).internal:
        # A vendor's calendar is its own work, not every release it may see.
        kwargs["user"] = viewer
    return kwargs


class CalendarView(APIView):
    """Release calendar entries: planned windows, deployment windows, task
    dates and freeze windows. Each has a stable `uid` and a `sequence` that
    rises with every reschedule."""

    @extend_schema(summary="Release calendar entries", parameters=FILTERS, responses={200: EntrySerializer})
    def get(self, request):
        return Response([e.as_dict() for e in entries(**feed_filters(request))])


class CalendarFeedView(APIView):
    """The same entries as iCalendar (RFC 5545), for a logged-in user or a token."""

    @extend_schema(exclude=True)
    def get(self, request):
        return _ics_response(request, feed_filters(request), "Release calendar")


def private_feed(request, key: str):
    """A user's own calendar (what they manage, requested or are assigned),
    at a secret URL calendar clients can subscribe to."""
    token = CalendarToken.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        raise Http404("Unknown calendar.")
    start, end = calendar_window()
    # The token stands for its user: what concerns them, of what they may see.
    return _ics_response(request, {"viewer": token.user, "start": start, "end": end, "user": token.user},
                         f"Releases for {token.user.get_username()}")


def _ics_response(request, filters: dict, name: str):
    """The feed for ``filters``, from the cache while nothing it shows has
    changed (calendars.cache); 304 when the client holds it already."""
    key = (name, filters["start"], filters["end"], reader(filters["viewer"]).key,
           *(getattr(filters.get(k), "pk", None) for k in ("team", "ci", "release", "user")))
    body, etag = cached_feed(key, lambda: to_ical(entries(**filters), name=name))
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="releases.ics"'
    response["ETag"] = etag
    # Each client may cache it but must ask again (with the ETag) before using it.
    response["Cache-Control"] = "private, no-cache"
    return response
