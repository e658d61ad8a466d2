"""The release calendar over HTTP: JSON entries for integrations, and
iCalendar feeds (all, per team, per CI, per release, and a private per-user
URL that calendar clients can subscribe to without logging in)."""
from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotModified
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
from releases.choices import ReleaseType
from releases.models import CalendarToken, Release, Team

from .cache import cached_feed
from .entries import calendar_window, entries, to_ical
from .filters import CalendarFilters, parse_bool

FILTERS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="From (default: 30 days ago)."),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="Until (default: 90 days ahead)."),
    OpenApiParameter("mine", OpenApiTypes.BOOL,
                     description="Only releases the authenticated user manages or has a task in."),
    OpenApiParameter("teams", OpenApiTypes.BOOL,
                     description="Only releases with a task for one of the authenticated user's teams."),
    OpenApiParameter("ci", ID_SCHEMA, description="Only releases touching this CI, and its freezes and global ones."),
    OpenApiParameter("type", OpenApiTypes.STR, enum=[c for c, _ in ReleaseType.choices],
                     description="Only releases of this type."),
    OpenApiParameter("finished", OpenApiTypes.BOOL,
                     description="Also closed, rolled-back and cancelled releases and done tasks (default: left out)."),
    OpenApiParameter("team", ID_SCHEMA, description="A team's feed: its releases and its tasks."),
    OpenApiParameter("release", ID_SCHEMA, description="A release's feed: its windows and its tasks."),
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


def _bool(params, name) -> bool:
    try:
        return parse_bool(params, name)
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from exc


def query_filters(params, user) -> CalendarFilters:
    """The calendar filters of a feed's query (calendars.filters), checked:
    a CI the user may not see is not found, a bad value is a 400."""
    kind = params.get("type") or ""
    if kind and kind not in ReleaseType.values:
        raise ValidationError({"type": f"Give one of {', '.join(ReleaseType.values)}."})
    ci = None
    if (ci_id := _int(params, "ci")) is not None:
        ci = get_object_or_404(ConfigurationItem.objects.restrict(user), pk=ci_id)
    return CalendarFilters(user=user, mine=_bool(params, "mine"), teams=_bool(params, "teams"), ci=ci,
                           release_type=kind, finished=_bool(params, "finished"))


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
    kwargs = {"viewer": viewer, "start": start, "end": end, "filters": query_filters(params, viewer)}
    if (team := _int(params, "team")) is not None:
        kwargs["team"] = get_object_or_404(Team.objects.restrict(viewer), pk=team)
    if (release := _int(params, "release")) is not None:
        kwargs["release"] = get_object_or_404(Release.objects.restrict(viewer), pk=release)
    if not reader(viewer).internal:
        # A vendor's calendar is its own work, not every release it may see.
        kwargs["user"] = viewer
    return kwargs


class CalendarView(APIView):
    """Release calendar entries: planned windows, deployment windows and
    freeze windows of releases still to happen (filters below); a team's or
    a release's feed (`team`, `release`) also holds its task dates. Each
    entry has a stable `uid` and a `sequence` that rises with every
    reschedule."""

    @extend_schema(summary="Release calendar entries", parameters=FILTERS, responses={200: EntrySerializer})
    def get(self, request):
        return Response([e.as_dict() for e in entries(**feed_filters(request))])


class CalendarFeedView(APIView):
    """The same entries as iCalendar (RFC 5545), for a logged-in user or a token."""

    @extend_schema(exclude=True)
    def get(self, request):
        return _ics_response(request, feed_filters(request), "Release calendar")


def private_feed(request, key: str):
    """A user's own calendar at a secret URL calendar clients can subscribe
    to: their tasks and their teams', and the releases they manage, requested
    or work on; the same filters as the other feeds (``finished``, ``type``,
    ``ci``...) as query parameters."""
    token = CalendarToken.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        raise Http404("Unknown calendar.")
    start, end = calendar_window()
    try:
        filters = query_filters(request.GET, token.user)
    except ValidationError as exc:
        reasons = " ".join(f"{name}: {reason}" for name, reason in exc.detail.items())
        return HttpResponseBadRequest(reasons, content_type="text/plain; charset=utf-8")
    # The token stands for its user: what concerns them, of what they may see.
    return _ics_response(request, {"viewer": token.user, "start": start, "end": end, "user": token.user,
                                   "filters": filters}, f"Releases for {token.user.get_username()}")


def _ics_response(request, filters: dict, name: str):
    """The feed for ``filters``, from the cache while nothing it shows has
    changed (calendars.cache); 304 when the client holds it already."""
    key = (name, filters["start"], filters["end"], reader(filters["viewer"]).key,
           *(getattr(filters.get(k), "pk", None) for k in ("team", "release", "user")), *filters["filters"].key())
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
