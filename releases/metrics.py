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

Cost: three queries whatever the number of releases, each an aggregate the
database computes; what comes back is a few hundred rows (see "the
computation" below).
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone as dt_timezone

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import DurationField, QuerySet
from django.utils import timezone

from changes.models import ChangeRequest
from cmdb.forms import CIField
from cmdb.models import ConfigurationItem
from releasemgmt.authz import unfiltered
from releasemgmt.forms import IdModelChoiceField

from .choices import STATE_ORDER, STATE_STEP, ReleaseState, ReleaseType
from .models import Deployment, Release, ReleasePlan, ReleaseScopeItem, Task, Team, TransitionLog, Vendor
from .choices import STEP_TARGETS

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
    those ranks and returns only them (``RELEASE_FIGURES_SQL``).

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

    def spread(self) -> dict:
        return {"count": self.count, "median_hours": _round(self.median()), "p90_hours": _round(self.p90())}


def week_start(moment: datetime) -> date:
    day = moment.astimezone(dt_timezone.utc).date()
    return day - timedelta(days=day.weekday())


# --- the computation ---------------------------------------------------------------------
#
# The database computes the figures and returns a few hundred rows: counts,
# and for each sample of durations its size and the values at the ranks its
# median and 90th percentile read. At 100,000 releases a three-year period
# holds over a million transitions: fetching them and walking them in Python
# took seconds of CPU per page.
#
# Durations come back in whole microseconds, exact, and become hours here as
# they always did, so every figure is the one the Python walk gave. One SQL
# text serves PostgreSQL and SQLite (both have CTEs and window functions);
# only durations are spelt per database (``_span``). Parameters are named
# (``:start``) and bound in order by ``_bind``.

WEEK_US = 7 * 24 * 3600 * 10**6
# What each row of RELEASE_FIGURES_SQL is about ("metric"): samples of
# durations, then counts.
STAY, CAB, RESTORE, LEAD, DEPLOYED, DEPLOYMENTS, GO = range(7)
# The groups of STAY: STEP_KEYS[i] is group i.
STEP_KEYS = [(kind, state) for kind, targets in STEP_TARGETS.items() for state in targets]


@dataclass(frozen=True)
class _Raw:
    """SQL spliced in as it is, with its own positional parameters."""

    sql: str
    params: tuple = ()


class _Part(str):
    """SQL spliced in with named parameters of its own, bound like the rest."""


_NAMED = re.compile(r"(?<![:\w]):(\w+)")  # not after ":" or a letter: PostgreSQL casts (::) are left alone


def _bind(sql: str, values: dict) -> tuple[str, list]:
    params: list = []

    def placeholder(match):
        value = values[match.group(1)]
        if isinstance(value, _Part):
            return _NAMED.sub(placeholder, value)
        if isinstance(value, _Raw):
            params.extend(value.params)
            return value.sql
        if isinstance(value, datetime):
            value = connection.ops.adapt_datetimefield_value(value)
        elif isinstance(value, timedelta):
            value = DurationField().get_db_prep_value(value, connection)
        params.append(value)
        return "%s"

    return _NAMED.sub(placeholder, sql), params


def _span(later: str, earlier: str) -> _Part:
    """``later - earlier``, compared and ordered as durations are: an
    interval on PostgreSQL, microseconds on SQLite."""
    if connection.vendor == "postgresql":
        return _Part(f"({later} - {earlier})")
    if connection.vendor == "sqlite":
        return _Part(f"django_timestamp_diff({later}, {earlier})")  # Django's own function
    raise NotImplementedError(f"The process metrics are written for PostgreSQL and SQLite, not {connection.vendor}.")


def _micros(span: str) -> _Part:
    """A ``_span`` in whole microseconds."""
    if connection.vendor == "postgresql":
        return _Part(f"CAST(EXTRACT(EPOCH FROM {span}) * 1000000 AS bigint)")  # numeric, exact
    return _Part(span)


def _hour(span: str) -> _Part:
    """A ``_span`` cut to whole hours, towards zero: a longer duration never
    gets a smaller one, which is all ``RELEASE_FIGURES_SQL`` needs."""
    if connection.vendor == "postgresql":
        return _Part(f"date_trunc('hour', {span})")
    return _Part(f"({span} / {3600 * 10**6})")


def _quoted(*words: str) -> str:
    return ", ".join(f"'{word}'" for word in words)  # constants of this module only


def _narrowed(filters: Filters, column: str) -> _Raw:
    """``AND <column> IN (the filtered releases)``, or nothing without filters."""
    if not filters.narrows_releases:
        return _Raw("")
    sql, params = filters.releases().order_by().values("pk").query.sql_with_params()
    return _Raw(f"AND {column} IN ({sql})", tuple(params))


def _visible_tasks(filters: Filters) -> _Raw:
    """``AND t.id IN (the tasks the viewer may see)``, or nothing when they see all."""
    tasks = filters.tasks()
    if unfiltered(tasks):
        return _Raw("")
    sql, params = tasks.order_by().values("pk").query.sql_with_params()
    return _Raw(f"AND t.id IN ({sql})", tuple(params))


def _table(model) -> _Raw:
    return _Raw(connection.ops.quote_name(model._meta.db_table))


# Everything from the release log, in one statement, over the releases with
# something happening in the period (``active``) and their history up to its
# end: a stay or a lead time ending in the period may have begun long before.
#
# * ``walked``: every transition with the one before it (``LAG``), which
#   entered the state this one leaves: a stay.
# * ``milestones``: the transitions the other figures read, a fifth of the
#   log. A CAB decision pairs with the latest ``submit_plan`` before it unless
#   another decision came in between: among the CAB transitions alone, in
#   order, the one just before it must be a ``submit_plan``. A rollback and
#   its ``rolled_back`` pair the same way.
# * ``outcome``: per release, its first ``deployed``, its first rollback while
#   still ``deploying`` (its deployment ended there) and whether it was ever
#   rolled back.
# * ``spans``: every duration measured, as (metric, group, duration, flag).
# * Ranks without sorting a million durations: ``buckets`` counts them per
#   hour of duration (hashing), ``placed`` adds up how many come before each
#   bucket, ``wanted`` keeps the buckets holding the ranks the median
#   ((n + 1) / 2 and n / 2 + 1) and the 90th percentile (9 (n - 1) / 10 + 1
#   and + 2) read (integer division in both databases), and ``picked`` sorts
#   only their durations.
# * Then the counts, with rank 0: first deployments per week since
#   ``monday``, deployments ended in the period (flag: rolled back), and the
#   Go (group 1) and No-Go (group 0) decisions.
RELEASE_FIGURES_SQL = f"""
WITH active AS (
    SELECT DISTINCT object_id FROM :log
    WHERE content_type_id = :ct AND at >= :start AND at < :end :narrowed
), walked AS (
    SELECT r.release_type AS kind, l.at, LAG(l.target) OVER w AS state, LAG(l.at) OVER w AS entered
    FROM :log l JOIN :release r ON r.id = l.object_id
    WHERE l.content_type_id = :ct AND l.at < :end AND l.object_id IN (SELECT object_id FROM active)
    WINDOW w AS (PARTITION BY l.object_id ORDER BY l.at, l.id)
), targets (grp, kind, state, target) AS (
    VALUES :targets
), milestones AS (
    SELECT l.id, l.object_id, l.name, l.source, l.target, l.at
    FROM :log l
    WHERE l.content_type_id = :ct AND l.at < :end AND l.object_id IN (SELECT object_id FROM active)
      AND (l.name IN ('submit_plan', 'approve_plan', 'reject_plan', 'rollback', 'approve_go', 'no_go')
           OR l.target IN ('deployed', 'rolled_back'))
), cab AS (
    SELECT name, at, LAG(name) OVER w AS prev_name, LAG(at) OVER w AS prev_at
    FROM milestones WHERE name IN ('submit_plan', 'approve_plan', 'reject_plan')
    WINDOW w AS (PARTITION BY object_id ORDER BY at, id)
), restore AS (
    SELECT name, target, at, LAG(name) OVER w AS prev_name, LAG(at) OVER w AS prev_at
    FROM milestones WHERE name = 'rollback' OR target = 'rolled_back'
    WINDOW w AS (PARTITION BY object_id ORDER BY at, id)
), outcome AS (
    SELECT object_id,
           MIN(CASE WHEN target = 'deployed' THEN at END) AS deployed_at,
           MIN(CASE WHEN name = 'rollback' AND source = 'deploying' THEN at END) AS failed_at,
           MAX(CASE WHEN name = 'rollback' THEN 1 ELSE 0 END) AS rolled_back
    FROM milestones GROUP BY object_id
), spans (metric, grp, span, flag) AS (
    SELECT {STAY}, t.grp, :stay, CASE WHEN :stay > t.target THEN 1 ELSE 0 END
    FROM walked w JOIN targets t ON t.kind = w.kind AND t.state = w.state
    WHERE w.at >= :start
    UNION ALL
    SELECT {CAB}, 0, :paired, CASE WHEN name = 'approve_plan' THEN 1 ELSE 0 END
    FROM cab WHERE name IN ('approve_plan', 'reject_plan') AND prev_name = 'submit_plan' AND at >= :start
    UNION ALL
    SELECT {RESTORE}, 0, :paired, 0
    FROM restore
    WHERE name <> 'rollback' AND target = 'rolled_back' AND prev_name = 'rollback' AND at >= :start
    UNION ALL
    SELECT {LEAD}, 0, :lead, 0
    FROM outcome o JOIN :rfc_link link ON link.release_id = o.object_id
         JOIN :rfc c ON c.id = link.changerequest_id
    WHERE o.deployed_at >= :start
), buckets AS (
    SELECT metric, grp, :bucket AS bucket, COUNT(*) AS c, SUM(flag) AS flagged
    FROM spans GROUP BY metric, grp, :bucket
), placed AS (
    SELECT metric, grp, bucket, c,
           CAST(SUM(c) OVER (PARTITION BY metric, grp ORDER BY bucket ROWS UNBOUNDED PRECEDING) - c AS bigint)
               AS below,
           CAST(SUM(c) OVER (PARTITION BY metric, grp) AS bigint) AS n,
           CAST(SUM(flagged) OVER (PARTITION BY metric, grp) AS bigint) AS flagged
    FROM buckets
), wanted AS (
    SELECT * FROM placed
    WHERE (n + 1) / 2 BETWEEN below + 1 AND below + c OR n / 2 + 1 BETWEEN below + 1 AND below + c
       OR 9 * (n - 1) / 10 + 1 BETWEEN below + 1 AND below + c
       OR 9 * (n - 1) / 10 + 2 BETWEEN below + 1 AND below + c
), picked AS (
    SELECT s.metric, s.grp, w.n, w.flagged, s.span,
           w.below + ROW_NUMBER() OVER (PARTITION BY s.metric, s.grp, w.bucket ORDER BY s.span) AS rn
    FROM spans s JOIN wanted w ON w.metric = s.metric AND w.grp = s.grp AND w.bucket = :spans_bucket
)
SELECT metric, grp, n, flagged, rn, :picked_micros FROM picked
WHERE rn IN ((n + 1) / 2, n / 2 + 1, 9 * (n - 1) / 10 + 1, 9 * (n - 1) / 10 + 2)
UNION ALL
SELECT {DEPLOYED}, week, COUNT(*), 0, 0, 0
FROM (SELECT :deployed_us / {WEEK_US} AS week FROM outcome WHERE deployed_at >= :start) deployed GROUP BY week
UNION ALL
SELECT {DEPLOYMENTS}, 0, COUNT(*), COALESCE(SUM(rolled_back), 0), 0, 0
FROM outcome WHERE COALESCE(deployed_at, failed_at) >= :start
UNION ALL
SELECT {GO}, go, COUNT(*), 0, 0, 0
FROM (SELECT CASE WHEN name = 'approve_go' THEN 1 ELSE 0 END AS go
      FROM milestones WHERE name IN ('approve_go', 'no_go') AND at >= :start) decisions GROUP BY go
"""


@contextlib.contextmanager
def _without_jit():
    """PostgreSQL compiles a statement it expects to be costly (``jit``); it
    cannot know how few releases a short period touches, so it expects a
    million rows of ``RELEASE_FIGURES_SQL`` and spends more compiling its
    expressions than running it (at 100k releases and 90 days: 0.2 to 0.4 s
    on a 0.5 s statement)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # until this transaction ends
        yield


def _release_figures(filters: Filters, monday: datetime) -> dict[tuple[int, int], Sample]:
    """The samples of ``RELEASE_FIGURES_SQL`` by (metric, group)."""
    values = {
        "log": _table(TransitionLog), "release": _table(Release), "rfc_link": _table(Release.rfcs.through),
        "rfc": _table(ChangeRequest), "ct": ContentType.objects.get_for_model(Release).pk,
        "start": filters.start, "end": filters.end, "monday": monday, "narrowed": _narrowed(filters, "object_id"),
        "stay": _span("w.at", "w.entered"), "paired": _span("at", "prev_at"),
        "lead": _span("o.deployed_at", "c.created_at"), "deployed_us": _micros(_span("deployed_at", ":monday")),
        "bucket": _hour("span"), "spans_bucket": _hour("s.span"), "picked_micros": _micros("span"),
        "targets": _Part(", ".join(f"(:grp{i}, :kind{i}, :state{i}, :target{i})" for i in range(len(STEP_KEYS)))),
    }
    for i, (kind, state) in enumerate(STEP_KEYS):
        values.update({f"grp{i}": i, f"kind{i}": kind, f"state{i}": state, f"target{i}": STEP_TARGETS[kind][state]})
    statement, params = _bind(RELEASE_FIGURES_SQL, values)
    samples: dict[tuple[int, int], Sample] = {}
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        for metric, grp, n, flagged, rank, us in cursor.fetchall():
            sample = samples.setdefault((metric, grp), Sample(int(n), int(flagged)))
            if rank:
                sample.by_rank[rank] = hours(timedelta(microseconds=us))
    return samples


def compute(filters: Filters) -> dict:
    """Every figure for the period and filters (see the module docstring)."""
    start, end = filters.start, filters.end
    monday = week_start(start)
    weeks: dict[date, int] = {}
    week = monday
    while datetime.combine(week, time.min, tzinfo=dt_timezone.utc) < end:
        weeks[week] = 0
        week += timedelta(days=7)

    with _without_jit():
        found = _release_figures(filters, datetime.combine(monday, time.min, tzinfo=dt_timezone.utc))

    def sample(metric, grp=0) -> Sample:
        return found.get((metric, grp), Sample())

    for (metric, grp), s in found.items():
        if metric == DEPLOYED:
            weeks[monday + timedelta(days=7 * grp)] = s.count
    deployed = sum(weeks.values())
    deployments, cab = sample(DEPLOYMENTS), sample(CAB)
    go = {"go": sample(GO, 1).count, "no_go": sample(GO, 0).count}

    time_in_step = []
    stays = {STEP_KEYS[grp]: s for (metric, grp), s in found.items() if metric == STAY}
    for kind in ReleaseType.values:
        for state in MEASURED_STATES:
            s = stays.get((kind, state))
            if s is None:
                continue
            target = hours(STEP_TARGETS[kind][state])
            time_in_step.append({
                "release_type": kind, "state": state, "label": STATE_LABELS[state], "step": STATE_STEP[state],
                **s.spread(), "target_hours": _round(target), "over_target": s.flagged,
                "over_target_percent": percent(s.flagged, s.count),
            })

    period_weeks = (end - start) / timedelta(days=7)
    return {
        "period": {"from": start, "to": end, "days": round((end - start) / timedelta(days=1), 2)},
        "filters": filters.as_dict(),
        "deployment_frequency": {
            "deployed": deployed, "per_week": round(deployed / period_weeks, 2) if period_weeks else None,
            "weeks": [{"week": w, "deployed": n} for w, n in sorted(weeks.items())],
        },
        "change_failure_rate": {"deployments": deployments.count, "failed": deployments.flagged,
                                "rate_percent": percent(deployments.flagged, deployments.count)},
        "time_to_restore": sample(RESTORE).spread(),
        "lead_time": sample(LEAD).spread(),
        "cab_cycle_time": {**cab.spread(), "approved": cab.flagged, "rejected": cab.count - cab.flagged},
        "time_in_step": time_in_step,
        "on_time": _on_time(filters),
        "go_no_go": {**go, "go_percent": percent(go["go"], go["go"] + go["no_go"])},
        "tasks": _tasks(filters),
    }


def _counts(sql: str, values: dict) -> tuple[int, ...]:
    statement, params = _bind(sql, values)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return tuple(int(value or 0) for value in cursor.fetchone())  # SUM() of no rows is NULL


# Deployments completed in the period against the window of their release's
# latest plan version (plans are frozen before Go: the plan it ran under).
ON_TIME_SQL = """
SELECT COUNT(*),
       SUM(CASE WHEN p.deployment_start IS NULL OR p.deployment_end IS NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN p.deployment_start <= d.started_at AND d.completed_at <= p.deployment_end THEN 1 ELSE 0 END)
FROM :deployment d
LEFT JOIN (SELECT release_id, MAX(version) AS version FROM :plan GROUP BY release_id) latest
       ON latest.release_id = d.release_id
LEFT JOIN :plan p ON p.release_id = latest.release_id AND p.version = latest.version
WHERE d.completed_at >= :start AND d.completed_at < :end :narrowed
"""


def _on_time(filters: Filters) -> dict:
    deployments, no_window, on_time = _counts(ON_TIME_SQL, {
        "deployment": _table(Deployment), "plan": _table(ReleasePlan), "start": filters.start, "end": filters.end,
        "narrowed": _narrowed(filters, "d.release_id")})
    late = deployments - no_window - on_time
    measured = on_time + late
    return {"deployments": measured, "on_time": on_time, "outside_window": late, "without_window": no_window,
            "rate_percent": percent(on_time, measured)}


# A task's figures follow from its first finishing log (``done`` or
# ``cancelled``, first in time): finished before the period, it is left out;
# not finished by the period's end, it is overdue; finished in the period as
# ``done``, it was completed, late if after its planned end. Tasks of
# cancelled releases are left out (an anti-join: they are the few).
TASKS_SQL = f"""
SELECT SUM(CASE WHEN f.first_at IS NULL OR f.first_at >= :end THEN 1 ELSE 0 END),
       SUM(CASE WHEN f.first_at < :end AND f.done_at = f.first_at THEN 1 ELSE 0 END),
       SUM(CASE WHEN f.first_at < :end AND f.done_at = f.first_at AND f.first_at > t.planned_end
                THEN 1 ELSE 0 END)
FROM :task t
LEFT JOIN (
    SELECT object_id, MIN(at) AS first_at, MIN(CASE WHEN target = 'done' THEN at END) AS done_at
    FROM :log WHERE content_type_id = :ct AND target IN ({_quoted(*FINISHED_TASK_STATES)})
    GROUP BY object_id
) f ON f.object_id = t.id
WHERE t.planned_end < :end
  AND NOT EXISTS (SELECT 1 FROM :release r WHERE r.id = t.release_id AND r.state = '{ReleaseState.CANCELLED}')
  AND (f.first_at IS NULL OR f.first_at >= :start) :narrowed :team :vendor :visible
"""


def _tasks(filters: Filters) -> dict:
    overdue, completed, completed_late = _counts(TASKS_SQL, {
        "task": _table(Task), "release": _table(Release), "log": _table(TransitionLog),
        "ct": ContentType.objects.get_for_model(Task).pk, "start": filters.start, "end": filters.end,
        "narrowed": _narrowed(filters, "t.release_id"),
        # a team's or vendor's own tasks only
        "team": _Raw("AND t.assignee_team_id = %s", (filters.team.pk,)) if filters.team is not None else _Raw(""),
        "vendor": (_Raw("AND t.assignee_vendor_id = %s", (filters.vendor.pk,)) if filters.vendor is not None
                   else _Raw("")),
        "visible": _visible_tasks(filters),
    })
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
