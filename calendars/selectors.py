"""The calendar's entries (releases, deployment windows, tasks, freezes),
read in a bounded number of queries however busy a month is."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone

from releases.choices import TaskState
from releases.models import FreezeWindow, Release, ReleasePlan, Task
from releases.selectors.access import ENDED

from .filters import FINISHED_RELEASE_STATES, CalendarFilters
from .marks import release_marks



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
    release: int = 0  # the release it belongs to (none for a freeze)
    marks: list[str] = field(default_factory=list)  # conflicts and freezes, in words (calendars.marks)

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


def _calendar_sources(user, filters: CalendarFilters | None = None) -> list[tuple[str, str, str, object]]:
    """What the calendar shows, per kind: (kind, start field, end field, the
    rows this user may see), narrowed by ``filters`` (by default: what is
    still to happen). Cancelled releases and tasks are always left out; a
    deployment window is the latest plan version's (a window moved by a
    revised plan is gone), of a release that has not ended."""
    filters = filters or CalendarFilters(user=user)
    newest = ReleasePlan.objects.filter(release=OuterRef("release")).order_by("-version").values("version")[:1]
    plans = (ReleasePlan.objects.restrict(user).filter(version=Subquery(newest)).exclude(release__state__in=ENDED)
             .filter(filters.releases("release__")))
    releases = Release.objects.restrict(user).exclude(state="cancelled").filter(filters.releases())
    tasks = Task.objects.restrict(user).exclude(state=TaskState.CANCELLED).filter(filters.tasks())
    freezes = FreezeWindow.objects.restrict(user)
    if filters.ci is not None:
        # A CI's calendar keeps the freezes that cover it, global ones included.
        covered = FreezeWindow.cis.through.objects
        freezes = freezes.filter(~Exists(covered.filter(freezewindow=OuterRef("pk")))
                                 | Exists(covered.filter(freezewindow=OuterRef("pk"), configurationitem=filters.ci)))
    sources = [("freeze", "start", "end", freezes),
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
                reverse("releases:detail", args=[r.pk]), r.state, f"Release window · {r.get_state_display()}", r.pk,
                r.pk)
    if ids.get("deployment"):
        for p in (ReleasePlan.objects.filter(pk__in=ids["deployment"]).select_related("release")
                  .only("id", "version", "deployment_start", "deployment_end", "release__id", "release__title",
                        "release__state")):
            r = p.release
            found["deployment", p.pk] = CalendarEntry(
                "deployment", f"Deploy {r.number} {r.title}", p.deployment_start, p.deployment_end,
                reverse("releases:detail", args=[r.pk]) + "#step-12", r.state, f"Deployment window, plan v{p.version}",
                p.pk, r.pk)
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
                f"{t.release.number} · step {t.step} · {t.assignee_label}", t.pk, t.release_id)
    # A row deleted between the two queries is simply not shown.
    return [found[key] for key in rows if key in found]


def with_marks(entries: list[CalendarEntry], user) -> list[CalendarEntry]:
    """The release and deployment windows among ``entries`` marked with
    their conflicts and freezes (calendars.marks), in a fixed number of queries."""
    windows = [e for e in entries if e.kind in ("release", "deployment") and e.state not in FINISHED_RELEASE_STATES]
    marks = release_marks({e.release for e in windows}, user)
    for e in windows:
        e.marks = marks.get(e.release, [])
    return entries


@dataclass
class CalendarPeriod:
    """What the calendar draws of a run of days, bounded however busy they are."""

    entries: list[CalendarEntry]  # per kind, the first few starting on each day
    on_day: dict[date, int]  # how many entries (all kinds) are on each day
    releases_on: dict[date, int]  # how many release windows are on each day
    starting: dict[date, int]  # how many start on each day; on the first, also those that started before


def calendar_period(user, first: date, last: date, per_day: int, filters: CalendarFilters | None = None,
                    today: date | None = None) -> CalendarPeriod:
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
    may show fewer than it could, never a false count. On ``today``, the
    first ``per_day`` release windows on it are loaded too, however long ago
    they started: today's releases are drawn first (``week_lanes``)."""
    from django.db.models import DateTimeField, F, Value, Window
    from django.db.models.functions import Greatest, Least, RowNumber, TruncDate

    tz = timezone.get_current_timezone()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    a, b = _day_bounds(first, tz)[0], _day_bounds(last, tz)[1]
    instant = timedelta(microseconds=1)
    on_day = dict.fromkeys(days, 0)
    starting = dict.fromkeys(days, 0)
    releases_on = dict.fromkeys(days, 0)
    picked = []
    for kind, start, end, qs in _calendar_sources(user, filters):
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
                if kind == "release":
                    releases_on[d1 + timedelta(days=i)] += n
        if kind == "release" and today in on_day:
            picked += [(kind, pk) for pk in rows.filter(_on(start, end, *_day_bounds(today, tz)))
                       .order_by(start, "pk").values_list("pk", flat=True)[:per_day]]
        ranked = rows.annotate(cal_rank=Window(RowNumber(), partition_by=first_day,
                                               order_by=[F(start).asc(), F("pk").asc()]))
        picked += [(kind, pk) for pk in ranked.filter(cal_rank__lte=per_day).values_list("pk", flat=True)]
    picked = list(dict.fromkeys(picked))  # today's releases may have been picked twice
    return CalendarPeriod(with_marks(calendar_rows(picked), user), on_day, releases_on, starting)


def calendar_day(user, day: date, filters: CalendarFilters | None = None, kind: str = ""):
    """Every entry on ``day`` as ``(kind, id)`` rows in the calendar's order
    (start, kind, id): a union of each kind's ids, which a Paginator counts and
    slices in SQL; ``calendar_rows`` then reads the page's entries. With
    ``kind``, only the entries of that kind."""
    from django.db.models import CharField, F, Value

    a, b = _day_bounds(day, timezone.get_current_timezone())
    only = kind
    parts = [qs.filter(_on(start, end, a, b)).order_by()
             .annotate(cal_start=F(start), cal_kind=Value(kind, output_field=CharField()), cal_id=F("pk"))
             .values_list("cal_start", "cal_kind", "cal_id")
             for kind, start, end, qs in _calendar_sources(user, filters) if not only or kind == only]
    if not parts:
        return Task.objects.none().values_list("pk", "pk", "pk").order_by("pk")
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return rows.order_by("cal_start", "cal_kind", "cal_id")


def week_lanes(days: list[date], entries: list[CalendarEntry], max_lanes: int | None = None,
               on_day: dict[date, int] | None = None, today: date | None = None):
    """Lay a week's entries out as bars: each entry covers a run of days
    (clipped to the week) and gets the first lane free on all of them.
    Returns (lanes, hidden): lanes of segments, and per day how many entries
    are not shown: with ``on_day`` (each day's count of entries, when
    ``entries`` are only some of them), that count less the bars drawn on the
    day; without it, the entries that did not fit in ``max_lanes``. The
    release windows on ``today`` take the first lanes: what happens today is
    never the part hidden behind "+N more"."""
    first, last = days[0], days[-1]
    segments = []
    for e in entries:
        start, end = e.first_day, e.last_day
        if end < first or start > last:
            continue
        a, b = max(start, first), min(end, last)
        segments.append({"entry": e, "col": (a - first).days + 1, "span": (b - a).days + 1,
                         "before": start < first, "after": end > last})
    segments.sort(key=lambda g: (not (g["entry"].kind == "release" and today is not None and g["entry"].covers(today)),
                                 g["col"], -g["span"], KIND_ORDER.get(g["entry"].kind, 9), g["entry"].start))
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
