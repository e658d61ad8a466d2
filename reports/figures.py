"""The queries behind the figures of ``reports.metrics``: ORM aggregates over
the stays (``reports.models.Stay``) and the step records, each returning a
few rows whatever the number of releases.

The durations measured (a stay, a CAB decision after its submission, a
restore after its rollback, an RFC's lead time) come back from the database
as exact durations; their median and 90th percentile are those of
``statistics`` (``metrics.Sample``), read from the few ranks they need.
Transitions are named from their declaration on ``Release``.
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone as dt_timezone

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import (
    Case, Count, DateField, DurationField, Exists, ExpressionWrapper, F, IntegerField, Min, OuterRef, Q, Subquery, Value,
    When, Window,
)
from django.db.models.functions import Cast, RowNumber, TruncWeek

from releasemgmt.workflow import name_of
from releases.choices import STEP_TARGETS, ReleaseState, TaskState
from releases.models import Deployment, Release, ReleasePlan, Task, TransitionLog

from . import months
from .models import Stay

APPROVE, REJECT = (name_of(t) for t in (Release.approve_plan, Release.reject_plan))
ROLLBACK, GO, NO_GO = (name_of(t) for t in (Release.rollback, Release.approve_go, Release.no_go))
DEPLOYING = ReleaseState.DEPLOYING
FINISHED_TASK_STATES = (TaskState.DONE, TaskState.CANCELLED)
OPEN_TASK_STATES = (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED)


def _span(later: str, earlier: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())


@contextlib.contextmanager
def planned_without_jit():
    """PostgreSQL compiles a statement it expects to be costly (``jit``); it
    cannot know how few rows a short period touches, and compiling costs
    more than running these aggregates."""
    if connection.vendor != "postgresql":
        yield
        return
    # Inside a caller's transaction the settings hold until it ends; no
    # savepoint is needed for them.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # Until this transaction ends; the ranks of a long period's stays
        # are sorted in memory rather than on disk.
        cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
        yield


def _narrowed(qs, filters, field="release_id"):
    return qs.filter(**{f"{field}__in": filters.releases().values("pk")}) if filters.narrows_releases else qs


# --- time in each step ------------------------------------------------------------------


def _wanted_ranks(n: int) -> set[int]:
    """The 1-based ranks the median and the 90th percentile read."""
    j = 9 * (n - 1) // 10
    return {(n + 1) // 2, n // 2 + 1, j + 1, min(j + 2, n)}


def stay_samples(filters, sample_type) -> dict[tuple[str, str], object]:
    """Every stay that ended in the period, by (release type, state): its
    size, how many were over the target, and the values at the ranks read.
    A histogram per whole hour first (``Stay.hours``: sizes, and over target
    or not, as the targets are whole hours); then only the hours holding
    those ranks are ranked, by a window over a few stays (read off the
    (state, type, hours) index) rather than a sort of all."""
    stays = _narrowed(Stay.objects.filter(left__gte=filters.start, left__lt=filters.end,
                                          state__in=sorted({s for t in STEP_TARGETS.values() for s in t}))
                      .exclude(entered_by=""), filters)
    if filters.release_type:
        stays = stays.filter(release_type=filters.release_type)
    stays = stays.annotate(span=_span("left", "entered"), hour=F("hours"))
    if filters.sees_every_release_of_its_type:
        # Whole months from their kept sums (``reports.months``).
        counted = months.histogram(Stay.objects.filter(left__gte=filters.start, left__lt=filters.end).exclude(
            entered_by=""), filters.start, filters.end, filters.release_type)
    else:
        counted = stays.values_list("release_type", "state", "hour").annotate(c=Count("pk")).order_by()
    histogram = defaultdict(list)
    for kind, state, hour, count in counted:
        if state in STEP_TARGETS.get(kind, {}):
            histogram[(kind, state)].append((hour, count))
    samples, wanted, local, below_of = {}, defaultdict(set), set(), {}
    for key, hours in histogram.items():
        hours.sort()
        n = sum(c for _, c in hours)
        target_hours = STEP_TARGETS[key[0]][key[1]] // timedelta(hours=1)
        sample = samples[key] = sample_type(n, sum(c for h, c in hours if h >= target_hours))
        ranks, below = sorted(_wanted_ranks(n)), 0
        for hour, count in hours:
            for rank in ranks:
                if below < rank <= below + count:
                    wanted[key].add(hour)
                    local.add(rank - below)
            below += count
        below_of[key] = dict(_cumulative(hours))
    if not wanted:
        return samples
    # Per state, the hours any of its types wants: a few other stays come
    # along (ranked in their own partition, then left).
    by_state = defaultdict(lambda: (set(), set()))
    for (kind, state), hours in wanted.items():
        by_state[state][0].add(kind)
        by_state[state][1].update(hours)
    only = Q()
    for state, (kinds, hours) in sorted(by_state.items()):
        only |= Q(state=state, release_type__in=sorted(kinds), hour__in=sorted(hours))
    ranked = stays.filter(only).annotate(rn=Window(RowNumber(), partition_by=[F("release_type"), F("state"),
                                                                              F("hour")], order_by=F("span").asc()))
    for kind, state, hour, rn, span in ranked.filter(rn__in=sorted(local)).order_by().values_list(
            "release_type", "state", "hour", "rn", "span"):
        sample, below = samples.get((kind, state)), below_of.get((kind, state), {}).get(hour)
        if below is None:  # a stay a kept month missed (kept before a change that should have forgotten it)
            continue
        rank = below + rn
        if rank in _wanted_ranks(sample.count):
            sample.by_rank[rank] = span.total_seconds() / 3600
    return samples


def _cumulative(hours):
    below = 0
    for hour, count in hours:
        yield hour, below
        below += count


# --- the release's milestones -----------------------------------------------------------
#
# Each read only the period's stays: what a figure needs of a release's
# earlier history was recorded on the stay when it was written
# (``Stay.paired_at``, ``Stay.first_deployment``: ``reports.stays``).


def _in_period(filters, qs=None):
    qs = Stay.objects.all() if qs is None else qs
    return _narrowed(qs.filter(entered__gte=filters.start, entered__lt=filters.end), filters)


def milestones(filters, sample_type) -> tuple[dict[date, int], object, object, object]:
    """In one query: the first deployments in the period per week (Monday,
    UTC); the lead time of each RFC they carried (hours from its submission
    to the release's first deployment: one value per first deployment and
    RFC); the CAB decisions on a submission, decided in the period (hours
    from the submission, flagged when approved); the restores completed in
    it (hours from the rollback to ``rolled_back``). The durations are
    ranked by the database; only the values at the ranks a median and a
    90th percentile read come back (``sample_type``, as ``stay_samples``)."""
    weeks = _in_period(filters, Stay.objects.filter(first_deployment=True)).annotate(
        # The week as a date (typed: the other kinds' rows have none).
        week=Cast(TruncWeek("entered", tzinfo=dt_timezone.utc), DateField())).values("week").annotate(
        n=Count("*")).annotate(kind=Value(WEEK), flagged=Value(None, output_field=IntegerField()),
                                rn=Value(None, output_field=IntegerField()),
                                span=Value(None, output_field=DurationField())).order_by()
    lead = _in_period(filters, Stay.objects.filter(first_deployment=True)).annotate(
        span=_span("entered", "release__rfcs__created_at")).filter(span__isnull=False)
    paired = _in_period(filters, Stay.objects.filter(paired_at__isnull=False)).annotate(
        span=_span("entered", "paired_at"))
    rows = weeks.values_list(*_COLUMNS).union(
        _at_ranks(lead, Value(LEAD)).values_list(*_COLUMNS),
        _at_ranks(paired, Case(When(entered_by__in=(APPROVE, REJECT), then=Value(CAB)), default=Value(RESTORE)),
                  Q(entered_by=APPROVE)).values_list(*_COLUMNS), all=True)
    deployed, samples = {}, {kind: sample_type() for kind in (LEAD, CAB, RESTORE)}
    for kind, week, n, flagged, rank, span in rows:
        if kind == WEEK:
            deployed[week.date() if isinstance(week, datetime) else week] = n
            continue
        sample = samples[kind]
        sample.count, sample.flagged = n, flagged
        sample.by_rank[rank] = span.total_seconds() / 3600
    return deployed, samples[LEAD], samples[CAB], samples[RESTORE]


WEEK, LEAD, CAB, RESTORE = "week", "lead", "cab", "restore"
_COLUMNS = ("kind", "week", "n", "flagged", "rn", "span")


def _at_ranks(qs, kind, flag=None):
    """The rows of ``qs`` (with a ``span``) at the ranks the median and the
    90th percentile of their kind's spans read (``_wanted_ranks``), each
    with the size of its kind and how many of them carry ``flag``."""
    qs = qs.annotate(kind=kind, week=Cast(Value(None), DateField()))
    whole = {"partition_by": [F("kind")]}
    # COUNT(*) and no tie-break on ids (equal spans are interchangeable):
    # nothing the partial indexes on ``entered`` do not hold.
    flagged = Value(0) if flag is None else Window(Count("entered", filter=flag), **whole)
    qs = qs.annotate(n=Window(Count("*"), **whole), flagged=flagged,
                     rn=Window(RowNumber(), order_by=F("span").asc(), **whole))
    j = (F("n") - 1) * 9 / 10
    return qs.filter(Q(rn=(F("n") + 1) / 2) | Q(rn=F("n") / 2 + 1) | Q(rn=j + 1) | Q(rn=j + 2)).order_by()


def outcomes_and_go(filters) -> dict[str, int]:
    """Releases whose deployment ended in the period and how many were
    rolled back (a rollback performed before the period's end); the Go and
    No-Go decisions taken in the period. A deployment ends at the release's
    first ``deployed``, or, when it has none before the period's end, at
    its first rollback started while deploying."""
    of_release = Stay.objects.filter(release_id=OuterRef("release_id"), entered__lt=filters.end)
    from_deploying = Q(entered_by=ROLLBACK, entered_from=DEPLOYING)
    earlier = Q(entered__lt=OuterRef("entered")) | Q(entered=OuterRef("entered"), pk__lt=OuterRef("pk"))
    ended_by_rollback = from_deploying & ~Q(Exists(of_release.filter(from_deploying, earlier))) & ~Q(
        Exists(of_release.filter(first_deployment=True)))
    ended = Q(first_deployment=True) | ended_by_rollback
    rows = _in_period(filters).filter(Q(first_deployment=True) | Q(entered_by__in=(ROLLBACK, GO, NO_GO)))
    totals = rows.aggregate(
        deployments=Count("pk", filter=ended),
        # The releases rolled back by then are few: a hashed list of them
        # rather than a look-up per deployment.
        failed=Count("pk", filter=ended & Q(release_id__in=Stay.objects.filter(
            entered_by=ROLLBACK, entered__lt=filters.end).values("release_id"))),
        go=Count("pk", filter=Q(entered_by=GO)), no_go=Count("pk", filter=Q(entered_by=NO_GO)))
    return totals


# --- step records and tasks -------------------------------------------------------------


def on_time(filters) -> tuple[int, int, int]:
    """Deployments completed in the period, how many had no window in their
    release's latest plan (plans are frozen before Go: the plan the
    deployment ran under), and how many ran inside it."""
    # The latest plan's verdict on each deployment, in one look-up per
    # deployment: no window (or no plan: NULL), inside it, or outside.
    verdict = ReleasePlan.objects.filter(release_id=OuterRef("release_id")).order_by("-version").annotate(
        verdict=Case(When(Q(deployment_start__isnull=True) | Q(deployment_end__isnull=True), then=Value(0)),
                     When(deployment_start__lte=OuterRef("started_at"), deployment_end__gte=OuterRef("completed_at"),
                          then=Value(1)),
                     default=Value(2))).values("verdict")[:1]
    found = dict(_narrowed(Deployment.objects.filter(completed_at__gte=filters.start, completed_at__lt=filters.end),
                           filters).annotate(verdict=Subquery(verdict)).values_list("verdict").annotate(
        n=Count("pk")).order_by())
    return sum(found.values()), found.get(0, 0) + found.get(None, 0), found.get(1, 0)


def tasks(filters) -> tuple[int, int, int]:
    """A task's figures follow from its first finishing log (``done`` or
    ``cancelled``, first in time): finished before the period, it is left
    out; not finished by the period's end, it is overdue; finished in the
    period as ``done``, it was completed, late if after its planned end.
    Tasks of cancelled releases are left out. Two queries, neither reading
    the tasks finished long ago: the overdue ones are the tasks still open
    (a finished task is never reopened: its state says it has no finishing
    log), read off the index of open tasks, and those finished after the
    period's end, read off the log from that end on; the finished ones from
    the log's side (only the period's)."""
    task_logs = TransitionLog.objects.filter(content_type=ContentType.objects.get_for_model(Task),
                                             target__in=FINISHED_TASK_STATES)
    qs = _narrowed(filters.tasks().filter(planned_end__lt=filters.end), filters).exclude(
        release__state=ReleaseState.CANCELLED)
    if filters.team is not None:
        qs = qs.filter(assignee_team=filters.team)
    if filters.vendor is not None:
        qs = qs.filter(assignee_vendor=filters.vendor)
    finished_later = qs.exclude(state__in=OPEN_TASK_STATES).filter(
        pk__in=task_logs.filter(at__gte=filters.end).values("object_id")).exclude(
        Exists(task_logs.filter(object_id=OuterRef("pk"), at__lt=filters.end)))
    overdue = qs.filter(state__in=OPEN_TASK_STATES).order_by().values("pk").union(
        finished_later.order_by().values("pk"), all=True).count()
    first = (task_logs.values("object_id").annotate(first_at=Min("at"), done_at=Min("at", filter=Q(target="done")))
             .filter(first_at__gte=filters.start, first_at__lt=filters.end, done_at=F("first_at")).order_by())
    done = qs.filter(pk__in=first.values("object_id")).annotate(
        done_at=Subquery(first.filter(object_id=OuterRef("pk")).values("first_at")[:1]))
    found = done.aggregate(completed=Count("pk"), late=Count("pk", filter=Q(done_at__gt=F("planned_end"))))
    return overdue, found["completed"], found["late"]
