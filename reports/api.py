"""Process metrics over the REST API: all figures as JSON, and one CSV per
metric (the reports page links its downloads here).

The definitions are in ``reports.metrics``. Metrics describe the whole
process, so they are for the process's roles; a user whose only role is
``vendor`` sees its own tasks and nothing else, and gets 403 here.
"""
from __future__ import annotations

import csv
import io
import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from releasemgmt.api import VALIDATION_ERROR, ErrorSerializer
from releasemgmt.authz import reader
from releasemgmt.input_guard import ID_SCHEMA

from releases.choices import ReleaseType

from .metrics import METRICS, MetricsFilterForm, compute, csv_table

FILTER_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.STR, description="Start of the period: a date (YYYY-MM-DD, from its "
                     "start in UTC) or an ISO 8601 date and time. Default: 90 days before `to`."),
    OpenApiParameter("to", OpenApiTypes.STR, description="End of the period: a date (that day included) or an "
                     "ISO 8601 date and time (excluded). Default: the end of today (UTC)."),
    OpenApiParameter("type", OpenApiTypes.STR, enum=ReleaseType.values, description="Only releases of this type."),
    OpenApiParameter("team", ID_SCHEMA, description="Only releases with a task for this team (and, for "
                     "the task figures, that team's tasks)."),
    OpenApiParameter("ci", OpenApiTypes.INT, description="Only releases with this configuration item in scope."),
    OpenApiParameter("vendor", ID_SCHEMA, description="Only releases with a task for this vendor (and, "
                     "for the task figures, that vendor's tasks)."),
]


def _hours(help_text=""):
    return serializers.FloatField(allow_null=True, help_text=help_text or "Hours; null when there is no value.")


def _percent():
    return serializers.FloatField(allow_null=True, help_text="Percent, one decimal; null when nothing to divide by.")


class SpreadSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    median_hours = _hours()
    p90_hours = _hours("90th percentile, hours.")


class WeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The Monday (UTC) the week starts.")
    deployed = serializers.IntegerField()


class DeploymentFrequencySerializer(serializers.Serializer):
    deployed = serializers.IntegerField(help_text="Releases reaching `deployed` for the first time in the period.")
    per_week = serializers.FloatField(allow_null=True)
    weeks = WeekSerializer(many=True)


class ChangeFailureRateSerializer(serializers.Serializer):
    deployments = serializers.IntegerField(help_text="Releases whose deployment ended in the period.")
    failed = serializers.IntegerField(help_text="Of those, the ones rolled back.")
    rate_percent = _percent()


class CabCycleSerializer(SpreadSerializer):
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()


class StepTimeSerializer(SpreadSerializer):
    release_type = serializers.ChoiceField(choices=ReleaseType.choices)
    state = serializers.CharField()
    label = serializers.CharField()
    step = serializers.IntegerField()
    target_hours = serializers.FloatField()
    over_target = serializers.IntegerField()
    over_target_percent = _percent()


class OnTimeSerializer(serializers.Serializer):
    deployments = serializers.IntegerField(help_text="Deployments completed in the period with a planned window.")
    on_time = serializers.IntegerField()
    outside_window = serializers.IntegerField()
    without_window = serializers.IntegerField()
    rate_percent = _percent()


class GoNoGoSerializer(serializers.Serializer):
    go = serializers.IntegerField()
    no_go = serializers.IntegerField()
    go_percent = _percent()


class TaskFiguresSerializer(serializers.Serializer):
    overdue = serializers.IntegerField(help_text="Open at the end of the period and past their planned end.")
    completed = serializers.IntegerField()
    completed_late = serializers.IntegerField()


# "from" is a Python keyword: these two are built by name.
PeriodSerializer = type("MetricsPeriod", (serializers.Serializer,), {
    "from": serializers.DateTimeField(), "to": serializers.DateTimeField(help_text="Excluded."),
    "days": serializers.FloatField(),
})
AppliedFiltersSerializer = type("MetricsFilters", (serializers.Serializer,), {
    "from": serializers.DateTimeField(), "to": serializers.DateTimeField(),
    "type": serializers.CharField(allow_null=True), "team": serializers.IntegerField(allow_null=True),
    "ci": serializers.IntegerField(allow_null=True), "vendor": serializers.IntegerField(allow_null=True),
})


class MetricsSerializer(serializers.Serializer):
    period = PeriodSerializer()
    filters = AppliedFiltersSerializer()
    deployment_frequency = DeploymentFrequencySerializer()
    change_failure_rate = ChangeFailureRateSerializer()
    time_to_restore = SpreadSerializer()
    lead_time = SpreadSerializer()
    cab_cycle_time = CabCycleSerializer()
    time_in_step = StepTimeSerializer(many=True)
    on_time = OnTimeSerializer()
    go_no_go = GoNoGoSerializer()
    tasks = TaskFiguresSerializer()


def _authorised_filters(request):
    """403 before the query is read (a vendor learns nothing about filters),
    then the filters or a 400 naming each invalid one."""
    if not reader(request.user).internal:
        raise exceptions.PermissionDenied("Process metrics are for the roles of the release process; "
                                          "a vendor sees its own tasks only.")
    form = MetricsFilterForm(request.query_params, user=request.user)
    if not form.is_valid():
        raise exceptions.ValidationError({name: list(errors) for name, errors in form.errors.items()})
    return form.filters()


ERRORS = {400: OpenApiResponse(VALIDATION_ERROR, description="An invalid filter, with the reason."),
          401: ErrorSerializer, 403: ErrorSerializer}


class MetricsView(APIView):
    """How the release process performs in a period: deployment frequency,
    change failure rate, time to restore, lead time, CAB cycle time, time in
    each step against its target, on-time rate, Go/No-Go outcomes and
    overdue tasks. Durations are in hours. The definitions are on the reports
    page and in `reports.metrics`."""

    @extend_schema(summary="Process metrics", parameters=FILTER_PARAMETERS,
                   responses={200: MetricsSerializer, **ERRORS})
    def get(self, request):
        return Response(MetricsSerializer(compute(_authorised_filters(request))).data)


class _CsvRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: text/csv``; an error still reads as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, default=str).encode()


class MetricCsvView(APIView):
    """One metric as CSV, with the same filters as the JSON: weekly rows for
    deployment frequency, one row per type and state for time in step, and
    `figure,value` rows for the others."""

    renderer_classes = [JSONRenderer, _CsvRenderer]

    @extend_schema(
        summary="One process metric as CSV",
        parameters=[OpenApiParameter("metric", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(METRICS)),
                    *FILTER_PARAMETERS],
        responses={(200, "text/csv"): OpenApiTypes.STR, **ERRORS, 404: ErrorSerializer},
    )
    def get(self, request, metric):
        filters = _authorised_filters(request)
        if metric not in METRICS:
            raise exceptions.NotFound(f"Unknown metric; one of: {', '.join(METRICS)}.")
        return csv_response(metric, compute(filters), filters)


def csv_response(metric: str, data: dict, filters) -> HttpResponse:
    header, rows = csv_table(metric, data)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"{metric}_{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
