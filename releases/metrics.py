"""How the release process performs: figures computed from the records the
process already keeps (nothing is stored for them).

The facts are the transition log of every release and task (who moved what,
from which state to which, when), the deployment records, the plan's
deployment window, the RFCs' submission times and the tasks' planned ends.

Definitions (the reports page and the API show the same words):

* **Period**: ``[from, to)``; a ``to`` given as a date includes that whole
  day (UTC). Default: the last 90 days. Every figure counts the events that
  happen inside the period; durations are counted when they *end* inside it.
* **Deployment frequency**: releases reaching ``deployed`` for the first time
  in the period, per ISO week (Monday to Sunday, UTC), and on average per
  week of the period.
* **Change failure rate**: of the releases whose deployment ended in the
  period (by reaching ``deployed``, or by a rollback started while still
  ``deploying``), the share that were rolled back (``rollback`` performed
  before the end of the period).
* **Time to restore**: from ``rollback`` (entering ``rolling_back``) to
  ``complete_rollback`` (``rolled_back``), for restores completed in the
  period; median and 90th percentile.
* **Lead time**: from an RFC's submission (its creation: an RFC is born
  ``submitted``) to the first ``deployed`` of the release carrying it, one
  value per RFC of the releases deployed in the period.
* **CAB cycle time**: from ``submit_plan`` to the CAB's decision on that
  submission (``approve_plan`` or ``reject_plan``), for decisions in the
  period, with the number approved and rejected.
* **Time in each step**: every stay of a release in a state of its machine,
  from entering to leaving it, for stays that ended in the period, grouped by
  release type and state and compared with ``STEP_TARGETS`` (the durations
  the reminders also use): median, 90th percentile, target and the share of
  stays over the target. ``new`` has no target, and a stay not yet ended is
  not counted.
* **On-time rate**: deployments completed in the period whose start and
  completion both fall inside the deployment window of the release's latest
  plan version (plans are frozen before Go, so that is the plan the
  deployment ran under).
* **Go/No-Go outcomes**: ``approve_go`` and ``no_go`` decisions in the period.
* **Tasks overdue**: tasks still open, in progress or blocked at the end of
  the period whose planned end had passed by then (tasks of cancelled
  releases are left out), and tasks completed in the period after their
  planned end.

Filters: release type; team, vendor (releases with a task assigned to that
team or vendor; the task figures then count that team's or vendor's tasks
only); configuration item (releases with the CI in scope).

Medians and percentiles interpolate linearly between the closest ranks
(``statistics.quantiles(method="inclusive")``): 30 and 90 minutes give a
median of 60 and a 90th percentile of 84.

Cost: a fixed number of queries whatever the number of releases. Every row is
fetched once with ``values_list`` and the timelines are walked in Python.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone as dt_timezone

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from cmdb.forms import CIField
from cmdb.models import ConfigurationItem

from .choices import STATE_ORDER, STATE_STEP, ReleaseState, ReleaseType
from .models import Deployment, Release, ReleasePlan, ReleaseScopeItem, Task, Team, TransitionLog, Vendor
from .tasks import STEP_TARGETS

DEFAULT_PERIOD = timedelta(days=90)
# Weekly buckets and the long-period cost stay bounded.
MAX_PERIOD = timedelta(days=3 * 366)
OPEN_TASK_STATES = ("open", "in_progress", "blocked")
FINISHED_TASK_STATES = ("done", "cancelled")
# The states a stay is measured in, in the order of the process.
MEASURED_STATES = [s for s in STATE_ORDER if s not in ("new", "closed")] + ["rolling_back", "rolled_back"]
STATE_LABELS = dict(ReleaseState.choices)

METRICS = ("deployment_frequency", "change_failure_rate", "time_to_restore", "lead_time", "cab_cycle_time",
           "time_in_step", "on_time", "go_no_go", "tasks")


# --- filters -----------------------------------------------------------------------------


class _DateOrDateTimeField(forms.Field):
    """A date (``2026-03-01``: the day in UTC) or an ISO 8601 date and time."""

    def __init__(self, *, end_of_day=False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value
        raw = str(value).strip()
        if len(raw) == 10:
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                raise forms.ValidationError("Give a date (YYYY-MM-DD) or an ISO 8601 date and time.") from None
            try:
                # "to 2026-03-31" means up to the end of that day.
                day = day + timedelta(days=1) if self.end_of_day else day
            except OverflowError:
                raise forms.ValidationError("This date is out of range.") from None
            return datetime.combine(day, time.min, tzinfo=dt_timezone.utc)
        from releasemgmt.filters import UtcIsoDateTimeField

        try:
            parsed = UtcIsoDateTimeField().to_python(raw)
        except forms.ValidationError:
            raise forms.ValidationError("Give a date (YYYY-MM-DD) or an ISO 8601 date and time.") from None
        return parsed


class _IdChoiceField(forms.ModelChoiceField):
    """A model chosen by id; an id the database cannot hold is simply unknown
    (PostgreSQL would refuse it with an error, not an empty result)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not str(value).isdigit() or int(value) > 2**63 - 1:
            raise forms.ValidationError(f"Unknown {self.queryset.model._meta.verbose_name}: give its numeric id.",
                                        code="invalid_choice")
        return super().to_python(value)


class MetricsFilterForm(forms.Form):
    """The filters of the metrics, shared by the reports page and the API."""

    type = forms.ChoiceField(label="Release type", required=False,
                             choices=[("", "All types"), *ReleaseType.choices])
    team = _IdChoiceField(queryset=Team.objects.all(), required=False, empty_label="All teams",
                          help_text="Releases with a task for this team.")
    ci = CIField(required=False, label="Configuration item",
                 help_text="Releases with this CI in scope: its name (or id).")
    vendor = _IdChoiceField(queryset=Vendor.objects.all(), required=False, empty_label="All vendors",
                            help_text="Releases with a task for this vendor.")

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so these two are added by name.
        self.fields = {
            "from": _DateOrDateTimeField(label="From", required=False, help_text="Default: 90 days ago.",
                                         widget=forms.DateInput(attrs={"type": "date"})),
            "to": _DateOrDateTimeField(label="To", required=False, end_of_day=True,
                                       help_text="Included. Default: today.",
                                       widget=forms.DateInput(attrs={"type": "date"})),
            **self.fields,
        }
        self.now = now or timezone.now()

    def clean(self):
        data = super().clean()
        if "from" in self.errors or "to" in self.errors:
            return data
        end = data.get("to") or datetime.combine(self.now.astimezone(dt_timezone.utc).date() + timedelta(days=1),
                                                 time.min, tzinfo=dt_timezone.utc)
        # Far-off years would overflow the date arithmetic (weeks, defaults)
        # and hold no releases anyway.
        for name in ("from", "to"):
            if data.get(name) is not None and not 1970 <= data[name].year <= 2999:
                raise forms.ValidationError({name: "Give a date between the years 1970 and 2999."})
        start = data.get("from") or end - DEFAULT_PERIOD
        if start >= end:
            raise forms.ValidationError({"from": "The start of the period must be before its end."})
        if end - start > MAX_PERIOD:
            raise forms.ValidationError({"from": "The period may span at most three years."})
        data["from"], data["to"] = start, end
        return data

    def filters(self) -> "Filters":
        """The validated filters (call after ``is_valid()``)."""
        d = self.cleaned_data
        return Filters(start=d["from"], end=d["to"], release_type=d.get("type") or "", team=d.get("team"),
                       ci=d.get("ci"), vendor=d.get("vendor"))


@dataclass(frozen=True)
class Filters:
    start: datetime
    end: datetime  # exclusive
    release_type: str = ""
    team: Team | None = None
    ci: ConfigurationItem | None = None
    vendor: Vendor | None = None

    def releases(self) -> QuerySet:
        qs = Release.objects.all()
        if self.release_type:
            qs = qs.filter(release_type=self.release_type)
        if self.team is not None:
            qs = qs.filter(pk__in=Task.objects.filter(assignee_team=self.team).values("release_id"))
        if self.vendor is not None:
            qs = qs.filter(pk__in=Task.objects.filter(assignee_vendor=self.vendor).values("release_id"))
        if self.ci is not None:
            qs = qs.filter(pk__in=ReleaseScopeItem.objects.filter(ci=self.ci).values("release_id"))
        return qs

    def tasks(self) -> QuerySet:
        qs = Task.objects.filter(release__in=self.releases().values("pk"))
        if self.team is not None:
            qs = qs.filter(assignee_team=self.team)
        if self.vendor is not None:
            qs = qs.filter(assignee_vendor=self.vendor)
        return qs

    def as_dict(self) -> dict:
        return {"from": self.start, "to": self.end, "type": self.release_type or None,
                "team": self.team.pk if self.team else None, "ci": self.ci.pk if self.ci else None,
                "vendor": self.vendor.pk if self.vendor else None}


# --- arithmetic --------------------------------------------------------------------------


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _round(value):
    return None if value is None else round(value, 2)


def _spread(values_hours: list[float]) -> dict:
    return {"count": len(values_hours), "median_hours": _round(median(values_hours)),
            "p90_hours": _round(p90(values_hours))}


def week_start(moment: datetime) -> date:
    day = moment.astimezone(dt_timezone.utc).date()
    return day - timedelta(days=day.weekday())


# --- the computation ---------------------------------------------------------------------


@dataclass
class _Timeline:
    release_type: str
    logs: list = field(default_factory=list)  # (name, source, target, at), in order


def _release_logs(filters: Filters) -> tuple[dict, dict[int, _Timeline]]:
    release_logs = TransitionLog.objects.filter(content_type__app_label="releases", content_type__model="release")
    in_period = release_logs.filter(at__gte=filters.start, at__lt=filters.end).values("object_id")
    # Only releases with something happening in the period; their whole
    # history up to the period's end, because a stay or a lead time that ends
    # inside the period may have begun long before it.
    active = filters.releases().filter(pk__in=in_period)
    timelines = {pk: _Timeline(kind) for pk, kind in active.values_list("pk", "release_type")}
    rows = release_logs.filter(object_id__in=active.values("pk"), at__lt=filters.end).order_by(
        "object_id", "at", "id").values_list("object_id", "name", "source", "target", "at")
    for pk, name, source, target, at in rows:
        if pk in timelines:
            timelines[pk].logs.append((name, source, target, at))
    return active, timelines


def compute(filters: Filters) -> dict:
    """Every figure for the period and filters (see the module docstring)."""
    start, end = filters.start, filters.end

    def inside(moment):
        return moment is not None and start <= moment < end

    active, timelines = _release_logs(filters)

    weeks: dict[date, int] = {}
    monday = week_start(start)
    while datetime.combine(monday, time.min, tzinfo=dt_timezone.utc) < end:
        weeks[monday] = 0
        monday += timedelta(days=7)

    deployed_at: dict[int, datetime] = {}
    cohort, failed = 0, 0
    restores, cab, cab_outcomes = [], [], {"approved": 0, "rejected": 0}
    go = {"go": 0, "no_go": 0}
    stays: dict[tuple[str, str], list[float]] = defaultdict(list)

    for pk, timeline in timelines.items():
        logs = timeline.logs
        first_deployed = next((at for _, _, target, at in logs if target == "deployed"), None)
        rollbacks = [(source, at) for name, source, _, at in logs if name == "rollback"]
        if inside(first_deployed):
            deployed_at[pk] = first_deployed
            weeks[week_start(first_deployed)] = weeks.get(week_start(first_deployed), 0) + 1
        # A deployment ends by reaching "deployed" or, failing on the way, by
        # a rollback straight from "deploying": both are deployments.
        deployment_end = first_deployed or next((at for source, at in rollbacks if source == "deploying"), None)
        if inside(deployment_end):
            cohort += 1
            failed += bool(rollbacks)

        rollback_started = submitted = None
        for i, (name, source, target, at) in enumerate(logs):
            if name == "rollback":
                rollback_started = at
            elif target == "rolled_back" and rollback_started is not None:
                if inside(at):
                    restores.append(hours(at - rollback_started))
                rollback_started = None
            if name == "submit_plan":
                submitted = at
            elif name in ("approve_plan", "reject_plan") and submitted is not None:
                if inside(at):
                    cab.append(hours(at - submitted))
                    cab_outcomes["approved" if name == "approve_plan" else "rejected"] += 1
                submitted = None
            if inside(at) and name in ("approve_go", "no_go"):
                go["go" if name == "approve_go" else "no_go"] += 1
            if i + 1 < len(logs):
                left_at = logs[i + 1][3]
                if inside(left_at) and target in STEP_TARGETS[timeline.release_type]:
                    stays[(timeline.release_type, target)].append(hours(left_at - at))

    lead = _lead_times(active, deployed_at)
    on_time = _on_time(filters)
    tasks = _tasks(filters)

    period_weeks = (end - start) / timedelta(days=7)
    time_in_step = []
    for kind in ReleaseType.values:
        for state in MEASURED_STATES:
            values = stays.get((kind, state))
            if not values:
                continue
            target = hours(STEP_TARGETS[kind][state])
            over = sum(1 for v in values if v > target)
            time_in_step.append({
                "release_type": kind, "state": state, "label": STATE_LABELS[state], "step": STATE_STEP[state],
                **_spread(values), "target_hours": _round(target), "over_target": over,
                "over_target_percent": percent(over, len(values)),
            })

    deployed = len(deployed_at)
    return {
        "period": {"from": start, "to": end, "days": round((end - start) / timedelta(days=1), 2)},
        "filters": filters.as_dict(),
        "deployment_frequency": {
            "deployed": deployed, "per_week": round(deployed / period_weeks, 2) if period_weeks else None,
            "weeks": [{"week": w, "deployed": n} for w, n in sorted(weeks.items())],
        },
        "change_failure_rate": {"deployments": cohort, "failed": failed, "rate_percent": percent(failed, cohort)},
        "time_to_restore": _spread(restores),
        "lead_time": _spread(lead),
        "cab_cycle_time": {**_spread(cab), **cab_outcomes},
        "time_in_step": time_in_step,
        "on_time": on_time,
        "go_no_go": {**go, "go_percent": percent(go["go"], go["go"] + go["no_go"])},
        "tasks": tasks,
    }


def _lead_times(active, deployed_at: dict[int, datetime]) -> list[float]:
    if not deployed_at:
        return []
    through = Release.rfcs.through.objects.filter(release__in=active.values("pk")).values_list(
        "release_id", "changerequest__created_at")
    return [hours(deployed_at[pk] - submitted) for pk, submitted in through if pk in deployed_at]


def _on_time(filters: Filters) -> dict:
    releases = filters.releases().values("pk")
    deployments = list(Deployment.objects.filter(
        release__in=releases, completed_at__gte=filters.start, completed_at__lt=filters.end,
    ).values_list("release_id", "started_at", "completed_at"))
    windows: dict[int, tuple] = {}
    if deployments:
        plans = ReleasePlan.objects.filter(
            release__in=Deployment.objects.filter(completed_at__gte=filters.start, completed_at__lt=filters.end,
                                                  release__in=releases).values("release_id"),
        ).order_by("release_id", "version").values_list("release_id", "deployment_start", "deployment_end")
        for pk, window_start, window_end in plans:
            windows[pk] = (window_start, window_end)  # the latest version wins
    on_time = late = no_window = 0
    for pk, started, completed in deployments:
        window_start, window_end = windows.get(pk, (None, None))
        if window_start is None or window_end is None:
            no_window += 1
        elif window_start <= started and completed <= window_end:
            on_time += 1
        else:
            late += 1
    measured = on_time + late
    return {"deployments": measured, "on_time": on_time, "outside_window": late, "without_window": no_window,
            "rate_percent": percent(on_time, measured)}


def _tasks(filters: Filters) -> dict:
    task_logs = TransitionLog.objects.filter(content_type__app_label="releases", content_type__model="task",
                                             target__in=FINISHED_TASK_STATES)
    tasks = filters.tasks().filter(planned_end__lt=filters.end).exclude(
        release__state=ReleaseState.CANCELLED).exclude(
        # finished before the period: neither overdue at its end nor completed in it
        pk__in=task_logs.filter(at__lt=filters.start).values("object_id"))
    rows = list(tasks.values_list("pk", "planned_end"))
    finished = {}
    if rows:
        for pk, target, at in task_logs.filter(object_id__in=tasks.values("pk")).order_by("at").values_list(
                "object_id", "target", "at"):
            finished.setdefault(pk, (target, at))
    overdue = completed = completed_late = 0
    for pk, planned_end in rows:
        target, at = finished.get(pk, (None, None))
        if at is None or at >= filters.end:
            overdue += 1  # still open at the end of the period, and past its planned end
        elif target == "done" and at >= filters.start:
            completed += 1
            completed_late += at > planned_end
    return {"overdue": overdue, "completed": completed, "completed_late": completed_late}


# --- CSV ---------------------------------------------------------------------------------


def csv_table(metric: str, data: dict) -> tuple[list[str], list[list]]:
    """One metric as a header and rows, for the CSV downloads."""
    if metric == "deployment_frequency":
        return ["week_starting", "deployed"], [[w["week"].isoformat(), w["deployed"]]
                                               for w in data["deployment_frequency"]["weeks"]]
    if metric == "time_in_step":
        cols = ["release_type", "state", "step", "count", "median_hours", "p90_hours", "target_hours",
                "over_target", "over_target_percent"]
        return cols, [[row[c] for c in cols] for row in data["time_in_step"]]
    figures = data[metric]
    return ["figure", "value"], [[key, value] for key, value in figures.items()]
