"""The calendar pages: a month or week of release windows, deployment
windows, tasks and freeze windows, one day's list, and the private feed link."""
from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from releases.models import CalendarToken
from .filters import CalendarFilterForm
from .marks import freeze_days
from .selectors import calendar_day, calendar_period, calendar_rows, month_grid, week_lanes, with_marks
from releasemgmt.ui import post_only, role_required


def _parse_day(value) -> date:
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        return timezone.localdate()
    # The grids and links reach weeks either side: near date.min or date.max
    # they would overflow (a 500 for a hand-made link).
    if not date(1900, 1, 1) <= day <= date(9000, 12, 31):
        return timezone.localdate()
    return day


# How many entries a day shows: bars in the grid (lanes) and rows in the phone's
# agenda. A busy day can hold hundreds; the rest are counted ("+N more")
# and listed on the day's page, a page at a time.
MONTH_PER_DAY = 5
WEEK_PER_DAY = 10
DAY_PAGE_SIZE = 50
CALENDAR_KINDS = [("release", "Release window"), ("deployment", "Deployment window"), ("task", "Task"),
                  ("freeze", "Freeze window")]


def _filters(request):
    """The page's filter form and the filters it holds; a field in error
    (an unknown CI) is shown with its reason and the page answers 400."""
    form = CalendarFilterForm(request.GET, user=request.user)
    form.is_valid()
    return form, form.filters()


@role_required
def calendar_view(request):
    """Month (default) or week view of release windows, deployment windows,
    tasks and freeze windows, or one day's list of them all (``view=day``):
    what is still to happen, narrowed by the filters in the query string."""
    view = request.GET.get("view", "month")
    if view not in ("month", "week", "day"):
        view = "month"
    day = _parse_day(request.GET.get("date"))
    form, filters = _filters(request)
    if view == "day":
        return _calendar_day_view(request, day, form, filters)
    if view == "month":
        weeks = month_grid(day.year, day.month)
        first, last = weeks[0][0], weeks[-1][-1]
        prev = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
        nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        title = day.strftime("%B %Y")
        per_day = MONTH_PER_DAY
    else:
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=6)
        weeks = [[first + timedelta(days=i) for i in range(7)]]
        prev, nxt = first - timedelta(days=7), first + timedelta(days=7)
        title = f"Week {first.isocalendar()[1]}, {first:%d %b} – {last:%d %b %Y}"
        per_day = WEEK_PER_DAY
    today = timezone.localdate()
    # A few entries a day and each day's counts, not every entry of the period.
    period = calendar_period(request.user, first, last, per_day, filters, today=today)
    frozen = freeze_days(request.user, first, last, timezone.get_current_timezone())
    weeks_out = [_week(week, period, per_day, today, frozen, view == "month" and day.month) for week in weeks]
    days = [d for week in weeks for d in week if view == "week" or d.month == day.month]
    return render(request, "releases/calendar.html", {
        **_common(request, form, filters), "view": view, "weeks": weeks_out, "agenda": _agenda(days, period, per_day, today),
        "title": title, "day": day, "prev": prev, "next": nxt, "today": today, "entries": period.entries,
    }, status=400 if form.errors else 200)


def _week(week, period, per_day, today, frozen, month) -> dict:
    """One week of the grid: its days (with how many entries are not drawn,
    today's release windows among them, and the freezes on each) and lanes."""
    lanes, hidden = week_lanes(week, period.entries, max_lanes=per_day, on_day=period.on_day, today=today)
    drawn = sum(1 for lane in lanes for seg in lane if seg["entry"].kind == "release" and seg["entry"].covers(today))
    return {
        "days": [{"day": d, "today": d == today, "outside": bool(month) and d.month != month, "hidden": hidden[i],
                  "col": i + 1, "freezes": frozen.get(d, []),
                  "releases_hidden": max(0, period.releases_on.get(d, 0) - drawn) if d == today else 0}
                 for i, d in enumerate(week)],
        "lanes": lanes,
        "rows": len(lanes) + 2,
    }


def _agenda(days, period, per_day, today) -> list[dict]:
    """The agenda (what a phone shows) lists each entry once: on the day it
    starts, or on the first day shown if it started before; at most per_day
    a day, the first by start, then how many more start that day and a link
    to the day's list (which also holds what started earlier and runs on)."""
    agenda = []
    for i, d in enumerate(days):
        if i == 0:
            es, total = [e for e in period.entries if e.covers(d)], period.on_day[d]
        else:
            es, total = [e for e in period.entries if e.first_day == d], period.starting[d]
        # Today's release windows first: what happens today is not the part left to "+N more".
        es = sorted(es, key=lambda e: (not (d == today and e.kind == "release"), e.start, e.kind, e.pk))[:per_day]
        if total:
            agenda.append({"day": d, "entries": es, "more": max(0, total - len(es))})
    return agenda


def _common(request, form, filters) -> dict:
    """What every view of the calendar shows: the filters (and the query
    string that keeps them on every link), the legend, the feed link."""
    return {"private_feed": private_feed_url(request), "kinds": CALENDAR_KINDS, "form": form,
            "filters": filters, "fq": ("&" + filters.querystring()) if filters.query() else ""}


def _calendar_day_view(request, day, form, filters):
    """Every entry on one day, DAY_PAGE_SIZE a page in the calendar's order:
    where a grid's or agenda's "+N more" leads (only the release windows with
    ``kind=release``). Counted and sliced in SQL."""
    kind = request.GET.get("kind", "")
    kind = kind if kind in dict(CALENDAR_KINDS) else ""
    page = Paginator(calendar_day(request.user, day, filters, kind), DAY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "releases/calendar.html", {
        **_common(request, form, filters),
        "view": "day", "title": f"{day:%A} {day.day} {day:%B %Y}", "day": day, "today": timezone.localdate(),
        "prev": day - timedelta(days=1), "next": day + timedelta(days=1), "kind": kind,
        "kind_label": dict(CALENDAR_KINDS).get(kind, ""), "page": page,
        "day_entries": with_marks(calendar_rows((k, pk) for _, k, pk in page.object_list), request.user),
    }, status=400 if form.errors else 200)


def private_feed_url(request) -> str:
    """The user's private iCalendar URL, if they made one."""
    token = CalendarToken.objects.filter(user=request.user).first()
    if token is None:
        return ""
    return request.build_absolute_uri(reverse("calendar-private-feed", args=[token.key]))


@post_only("releases:calendar", None)
@role_required
def calendar_subscription_view(request):
    """Make the user's private subscription URL (calendar clients cannot log in)."""
    CalendarToken.for_user(request.user)
    messages.success(request, "Your private calendar link is ready; add it to your calendar app.")
    return redirect(reverse("releases:calendar") + "#subscribe")
