"""The calendar's entries (releases, deployment windows, tasks, freezes),
read in a bounded number of queries however busy a month is."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from releases.choices import TaskState
from releases.models import FreezeWindow, Release, ReleasePlan, Task
from releases.selectors.access import ENDED



@dataclass
class CalendarEntry:
    kind: str  # release | deployment | task | freeze
    title: str
    start: datetime
    end: datetime
    url: str
    state: str = ""
    detail: str = ""
    pk: int = 0  # the row's id in its kind's table: orders entries that start together

    @cached_property
    def first_day(self) -> date:
        return timezone.localtime(self.start, timezone.get_current_timezone()).date()

    @cached_property
    def last_day(self) -> date:
        """The last day the entry is on: one ending at midnight ends the day before."""
        end = timezone.localtime(self.end, timezone.get_current_timezone())
        if self.end > self.start and end.time() == time.min:
            return end.date() - timedelta(days=1)
        return end.date()

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


KIND_ORDER = {"freeze": 0, "deployment": 1, "task": 2, "release": 3}


def _day_bounds(day: date, tz) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of a local day (not always 24 hours apart)."""
    return datetime.combine(day, time.min, tzinfo=tz), datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def _on(start: str, end: str, a: datetime, b: datetime) -> Q:
    """Rows on [a, b): starting before b and ending after a, or starting in it
    (a zero-length entry at midnight is on that day), as ``CalendarEntry.covers``
    has it. ``end >= a`` follows from the rest (an entry ends after it starts);
    it is spelt out for the index on the end column: tasks and plans have one,
    not one on their start."""
    return Q(**{f"{start}__lt": b, f"{end}__gte": a}) & (Q(**{f"{end}__gt": a}) | Q(**{f"{start}__gte": a}))


def _calendar_sources(user) -> list[tuple[str, str, str, object]]:
    """What the calendar shows, per kind: (kind, start field, end field, the
    rows this user may see). Cancelled releases and tasks are left out; a
    deployment window is the latest plan version's (a window moved by a
    revised plan is gone), of a release that has not ended."""
    newest = ReleasePlan.objects.filter(release=OuterRef("release")).order_by("-version").values("version")[:1]
    plans = ReleasePlan.objects.restrict(user).filter(version=Subquery(newest)).exclude(release__state__in=ENDED)
    releases = Release.objects.restrict(user).exclude(state="cancelled")
    tasks = Task.objects.restrict(user).exclude(state=TaskState.CANCELLED)
    sources = [("freeze", "start", "end", FreezeWindow.objects.restrict(user)),
               ("deployment", "deployment_start", "deployment_end", plans),
               ("release", "planned_start", "planned_end", releases),
               ("task", "planned_start", "planned_end", tasks)]
    # A kind the user may see none of is left out rather than queried (the
    # tasks stay, possibly empty, so that there is always one source).
    return [source for source in sources[:-1] if not source[3].query.is_empty()] + sources[-1:]


def calendar_rows(rows) -> list[CalendarEntry]:
    """The entries of ``(kind, id)`` pairs, in their order: one query per kind
    present, reading only the columns shown (no long text fields)."""
    from django.urls import reverse

    rows = list(rows)
    ids: dict[str, list] = {}
    for kind, pk in rows:
        ids.setdefault(kind, []).append(pk)
    found: dict[tuple[str, int], CalendarEntry] = {}
    if ids.get("release"):
        for r in Release.objects.filter(pk__in=ids["release"]).only("id", "title", "state", "planned_start",
                                                                     "planned_end"):
            found["release", r.pk] = CalendarEntry(
                "release", f"{r.number} {r.title}", r.planned_start, r.planned_end,
                reverse("releases:detail", args=[r.pk]), r.state, f"Release window · {r.get_state_display()}", r.pk)
    if ids.get("deployment"):
        for p in (ReleasePlan.objects.filter(pk__in=ids["deployment"]).select_related("release")
                  .only("id", "version", "deployment_start", "deployment_end", "release__id", "release__title",
                        "release__state")):
            r = p.release
            found["deployment", p.pk] = CalendarEntry(
                "deployment", f"Deploy {r.number} {r.title}", p.deployment_start, p.deployment_end,
                reverse("releases:detail", args=[r.pk]) + "#step-12", r.state, f"Deployment window, plan v{p.version}",
                p.pk)
    if ids.get("freeze"):
        for f in FreezeWindow.objects.filter(pk__in=ids["freeze"]).only("id", "name", "start", "end", "reason"):
            found["freeze", f.pk] = CalendarEntry(
                "freeze", f"Freeze: {f.name}", f.start, f.end,
                reverse("releases:calendar") + f"?view=week&date={f.start:%Y-%m-%d}", detail=f.reason, pk=f.pk)
    if ids.get("task"):
        for t in (Task.objects.filter(pk__in=ids["task"])
                  .select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
                  # A release's state too: its FSM mixin reads it on loading (a query a row if deferred).
                  .only("id", "title", "step", "state", "planned_start", "planned_end", "release__id", "release__title",
                        "release__state", "assignee_user", "assignee_team", "assignee_vendor")):
            found["task", t.pk] = CalendarEntry(
                "task", f"{t.release.number}: {t.title}", t.planned_start, t.planned_end,
                reverse("releases:task", args=[t.pk]), t.state,
                f"{t.release.number} · step {t.step} · {t.assignee_label}", t.pk)
    # A row deleted between the two queries is simply not shown.
    return [found[key] for key in rows if key in found]


@dataclass
class CalendarPeriod:
    """What the calendar draws of a run of days, bounded however busy they are."""

    entries: list[CalendarEntry]  # per kind, the first few starting on each day
    on_day: dict[date, int]  # how many entries (all kinds) are on each day
    starting: dict[date, int]  # how many start on each day; on the first, also those that started before


def calendar_period(user, first: date, last: date, per_day: int) -> CalendarPeriod:
    """The calendar from ``first`` to ``last`` (both included) for what this
    user may see, in three queries per kind however many entries it holds.

    A busy month holds thousands of entries
    and a day shows a few, so only a few are loaded: per kind, the first
    ``per_day`` starting on each day by start (one that started before
    ``first`` counts as starting on it), ranked in SQL by a window function;
    then the rows of those. What is not loaded is counted in SQL: the
    period's entries grouped by their first and last day (clipped to the
    period), at most one row per pair of days, from which each day's count
    of entries on it and starting on it follow, so "+N more" is true.

    The database still reads every row of the period to count and rank them,
    which grows with a busy month; what grows no more is what Python builds and the page draws.

    Enough to fill ``per_day`` lanes or agenda rows a day when entries last
    a day or so; a day crossed by many long entries that started days before
    may show fewer than it could, never a false count."""
    from django.db.models import DateTimeField, F, Value, Window
    from django.db.models.functions import Greatest, Least, RowNumber, TruncDate

    tz = timezone.get_current_timezone()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    a, b = _day_bounds(first, tz)[0], _day_bounds(last, tz)[1]
    instant = timedelta(microseconds=1)
    on_day = dict.fromkeys(days, 0)
    starting = dict.fromkeys(days, 0)
    picked = []
    for kind, start, end, qs in _calendar_sources(user):
        rows = qs.filter(_on(start, end, a, b)).order_by()
        first_day = TruncDate(Greatest(start, Value(a, output_field=DateTimeField())), tzinfo=tz)
        # The last day as CalendarEntry.last_day has it (an entry ending at
        # midnight ends the day before: one instant before its end, unless it
        # has no length), clipped to the period.
        last_day = TruncDate(Least(Greatest(F(end) - Value(instant), start), Value(b - instant)), tzinfo=tz)
        spans = rows.values(cal_first=first_day, cal_last=last_day).annotate(n=Count("pk"))
        for d1, d2, n in spans.values_list("cal_first", "cal_last", "n"):
            starting[d1] += n
            for i in range((d2 - d1).days + 1):
                on_day[d1 + timedelta(days=i)] += n
        ranked = rows.annotate(cal_rank=Window(RowNumber(), partition_by=first_day,
                                               order_by=[F(start).asc(), F("pk").asc()]))
        picked += [(kind, pk) for pk in ranked.filter(cal_rank__lte=per_day).values_list("pk", flat=True)]
    return CalendarPeriod(calendar_rows(picked), on_day, starting)


def calendar_day(user, day: date):
    """Every entry on ``day`` as ``(kind, id)`` rows in the calendar's order
    (start, kind, id): a union of each kind's ids, which a Paginator counts and
    slices in SQL; ``calendar_rows`` then reads the page's entries."""
    from django.db.models import CharField, F, Value

    a, b = _day_bounds(day, timezone.get_current_timezone())
    parts = [qs.filter(_on(start, end, a, b)).order_by()
             .annotate(cal_start=F(start), cal_kind=Value(kind, output_field=CharField()), cal_id=F("pk"))
             .values_list("cal_start", "cal_kind", "cal_id")
             for kind, start, end, qs in _calendar_sources(user)]
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return rows.order_by("cal_start", "cal_kind", "cal_id")


def week_lanes(days: list[date], entries: list[CalendarEntry], max_lanes: int | None = None,
               on_day: dict[date, int] | None = None):
    """Lay a week's entries out as bars: each entry covers a run of days
    (clipped to the week) and gets the first lane free on all of them.
    Returns (lanes, hidden): lanes of segments, and per day how many entries
    are not shown: with ``on_day`` (each day's count of entries, when
    ``entries`` are only some of them), that count less the bars drawn on the
    day; without it, the entries that did not fit in ``max_lanes``."""
    first, last = days[0], days[-1]
    segments = []
    for e in entries:
        start, end = e.first_day, e.last_day
        if end < first or start > last:
            continue
        a, b = max(start, first), min(end, last)
        segments.append({"entry": e, "col": (a - first).days + 1, "span": (b - a).days + 1,
                         "before": start < first, "after": end > last})
    segments.sort(key=lambda g: (g["col"], -g["span"], KIND_ORDER.get(g["entry"].kind, 9), g["entry"].start))
    lanes: list[tuple[list[dict], list[bool]]] = []  # each lane's segments, and the days it has taken
    hidden = [0] * len(days)
    shown = [0] * len(days)
    for seg in segments:
        cols = range(seg["col"], seg["col"] + seg["span"])
        for lane, used in lanes:
            if not any(used[c - 1] for c in cols):
                break
        else:
            if max_lanes is not None and len(lanes) >= max_lanes:
                for c in cols:
                    hidden[c - 1] += 1
                continue
            lane, used = [], [False] * len(days)
            lanes.append((lane, used))
        lane.append(seg)
        for c in cols:
            used[c - 1] = True
            shown[c - 1] += 1
    if on_day is not None:
        hidden = [max(0, on_day.get(d, 0) - shown[i]) for i, d in enumerate(days)]
    return [lane for lane, _ in lanes], hidden


def month_grid(year: int, month: int) -> list[list[date]]:
    """The weeks (Monday first) that show a month, as lists of seven dates."""
    first = date(year, month, 1)
    last = date(year, month, monthrange(year, month)[1])
    day = first - timedelta(days=first.weekday())
    weeks = []
    while day <= last:
        weeks.append([day + timedelta(days=i) for i in range(7)])
        day += timedelta(days=7)
    return weeks
