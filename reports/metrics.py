"""How the release process performs: figures computed from what the process
records.

The facts are the stays of every release (``reports.models.Stay``: each
state it entered, by which transition, and when it left it, written as the
transitions happen), the tasks' transition log, the deployment records, the
plan's deployment window, the RFCs' submission times and the tasks' planned
ends.

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

Cost: a fixed number of queries whatever the number of releases, each an
aggregate the database computes (``reports.figures``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone as dt_timezone

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from cmdb.forms import CIField
from cmdb.models import ConfigurationItem
from releasemgmt.authz import unfiltered
from releasemgmt.forms import IdModelChoiceField

from releases.choices import STATE_ORDER, STATE_STEP, STEP_TARGETS, ReleaseState, ReleaseType
from releases.models import Release, ReleaseScopeItem, Task, Team, Vendor

from . import figures

DEFAULT_PERIOD = timedelta(days=90)
# Weekly buckets and the long-period cost stay bounded.
MAX_PERIOD = timedelta(days=3 * 366)
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


class MetricsFilterForm(forms.Form):
    """The filters of the metrics, shared by the reports page and the API."""

    type = forms.ChoiceField(label="Release type", required=False,
                             choices=[("", "All types"), *ReleaseType.choices])
    team = IdModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="All teams",
                          help_text="Releases with a task for this team.")
    ci = CIField(required=False, label="Configuration item",
                 help_text="Releases with this CI in scope: its name (or id).")
    vendor = IdModelChoiceField(queryset=Vendor.objects.all(), required=False, empty_label="All vendors",
                            help_text="Releases with a task for this vendor.")

    def __init__(self, *args, now=None, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user is not None:
            # Only what this user may see can be chosen (another vendor is "unknown").
            for name, model in (("team", Team), ("vendor", Vendor), ("ci", ConfigurationItem)):
                self.fields[name].queryset = model.objects.restrict(user)
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
                       ci=d.get("ci"), vendor=d.get("vendor"), viewer=self.user)


@dataclass(frozen=True)
class Filters:
    start: datetime
    end: datetime  # exclusive
    release_type: str = ""
    team: Team | None = None
    ci: ConfigurationItem | None = None
    vendor: Vendor | None = None
    # Whose view: the figures count what this user may see (releasemgmt.authz).
    # None (a management command, a test of the arithmetic): the whole process.
    viewer: object = field(default=None, compare=False)

    def _restricted(self, model) -> QuerySet:
        return model.objects.all() if self.viewer is None else model.objects.restrict(self.viewer)

    @property
    def narrows_releases(self) -> bool:
        return (bool(self.release_type) or any(f is not None for f in (self.team, self.vendor, self.ci))
                or not unfiltered(self._restricted(Release)))

    @property
    def sees_every_release_of_its_type(self) -> bool:
        """Whether the figures count every release (of the chosen type): no
        team, vendor or CI chosen, and a viewer who sees every release."""
        return (all(f is None for f in (self.team, self.vendor, self.ci))
                and unfiltered(self._restricted(Release)))

    def tasks(self) -> QuerySet:
        """The tasks the viewer may see."""
        return self._restricted(Task)

    def releases(self) -> QuerySet:
        qs = self._restricted(Release)
        if self.release_type:
            qs = qs.filter(release_type=self.release_type)
        if self.team is not None:
            qs = qs.filter(pk__in=Task.objects.filter(assignee_team=self.team).values("release_id"))
        if self.vendor is not None:
            qs = qs.filter(pk__in=Task.objects.filter(assignee_vendor=self.vendor).values("release_id"))
        if self.ci is not None:
            qs = qs.filter(pk__in=ReleaseScopeItem.objects.filter(ci=self.ci).values("release_id"))
        return qs

    def as_dict(self) -> dict:
        return {"from": self.start, "to": self.end, "type": self.release_type or None,
                "team": self.team.pk if self.team else None, "ci": self.ci.pk if self.ci else None,
                "vendor": self.vendor.pk if self.vendor else None}


# --- arithmetic --------------------------------------------------------------------------


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _round(value):
    return None if value is None else round(value, 2)


@dataclass
class Sample:
    """A sample of durations (in hours) known by its size and by the values
    at the few ranks its median and 90th percentile read: the database finds
    those ranks and returns only them (``figures.stay_samples``).

    ``median`` and ``p90`` are ``statistics.median`` and
    ``statistics.quantiles(n=10, method="inclusive")[-1]`` written out on
    those ranks, the same operations in the same order, so the floats (and
    how they round) are the ones the whole sorted list would give."""

    count: int = 0
    flagged: int = 0  # how many carry the flag: over target, approved, rolled back
    by_rank: dict[int, float] = field(default_factory=dict)  # 1-based rank, ascending -> hours

    def median(self) -> float | None:
        n, at = self.count, self.by_rank
        if not n:
            return None
        if n % 2:
            return at[n // 2 + 1]
        return (at[n // 2] + at[n // 2 + 1]) / 2

    def p90(self) -> float | None:
        n, at = self.count, self.by_rank
        if not n:
            return None
        if n == 1:
            return at[1]
        j, delta = divmod(9 * (n - 1), 10)  # data[j] and data[j + 1], 0-based
        return (at[j + 1] * (10 - delta) + at[j + 2] * delta) / 10

    @classmethod
    def of(cls, values: list[float]) -> "Sample":
        """A sample of these values, all of them known."""
        return cls(len(values), 0, dict(enumerate(sorted(values), start=1)))

    def spread(self) -> dict:
        return {"count": self.count, "median_hours": _round(self.median()), "p90_hours": _round(self.p90())}


def week_start(moment: datetime) -> date:
    day = moment.astimezone(dt_timezone.utc).date()
    return day - timedelta(days=day.weekday())


# --- the computation ---------------------------------------------------------------------


def compute(filters: Filters) -> dict:
    """Every figure for the period and filters (see the module docstring)."""
    start, end = filters.start, filters.end
    monday = week_start(start)
    weeks: dict[date, int] = {}
    week = monday
    while datetime.combine(week, time.min, tzinfo=dt_timezone.utc) < end:
        weeks[week] = 0
        week += timedelta(days=7)

    with figures.planned_without_jit():
        deployed_weeks, lead, cab_sample, restores = figures.milestones(filters, Sample)
        weeks.update(deployed_weeks)
        outcomes = figures.outcomes_and_go(filters)
        stays = figures.stay_samples(filters, Sample)
        on_time = _on_time(filters)
        tasks = dict(zip(("overdue", "completed", "completed_late"), figures.tasks(filters)))
    approved = cab_sample.flagged
    deployments, failed = outcomes["deployments"], outcomes["failed"]
    go = {"go": outcomes["go"], "no_go": outcomes["no_go"]}

    deployed = sum(weeks.values())
    period_weeks = (end - start) / timedelta(days=7)
    return {
        "period": {"from": start, "to": end, "days": round((end - start) / timedelta(days=1), 2)},
        "filters": filters.as_dict(),
        "deployment_frequency": {
            "deployed": deployed, "per_week": round(deployed / period_weeks, 2) if period_weeks else None,
            "weeks": [{"week": w, "deployed": n} for w, n in sorted(weeks.items())],
        },
        "change_failure_rate": {"deployments": deployments, "failed": failed,
                                "rate_percent": percent(failed, deployments)},
        "time_to_restore": restores.spread(),
        "lead_time": lead.spread(),
        "cab_cycle_time": {**cab_sample.spread(), "approved": approved, "rejected": cab_sample.count - approved},
        "time_in_step": _time_in_step(stays),
        "on_time": on_time,
        "go_no_go": {**go, "go_percent": percent(go["go"], go["go"] + go["no_go"])},
        "tasks": tasks,
    }


def _time_in_step(stays: dict) -> list[dict]:
    rows = []
    for kind in ReleaseType.values:
        for state in MEASURED_STATES:
            s = stays.get((kind, state))
            if s is None:
                continue
            target = hours(STEP_TARGETS[kind][state])
            rows.append({
                "release_type": kind, "state": state, "label": STATE_LABELS[state], "step": STATE_STEP[state],
                **s.spread(), "target_hours": _round(target), "over_target": s.flagged,
                "over_target_percent": percent(s.flagged, s.count),
            })
    return rows


def _on_time(filters: Filters) -> dict:
    deployments, no_window, on_time = figures.on_time(filters)
    late = deployments - no_window - on_time
    measured = on_time + late
    return {"deployments": measured, "on_time": on_time, "outside_window": late, "without_window": no_window,
            "rate_percent": percent(on_time, measured)}


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
