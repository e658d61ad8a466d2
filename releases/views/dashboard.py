"""The dashboard and the release calendar."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from ..selectors import calendar_entries, dashboard, month_grid, week_lanes
from .common import role_required


@login_required
def dashboard_view(request):
    return render(request, "releases/dashboard.html", dashboard(request.user))


def _parse_day(value) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return timezone.localdate()


@role_required
def calendar_view(request):
    """Month (default) or week view of release windows, deployment windows,
    tasks and freeze windows."""
    view = request.GET.get("view", "month")
    if view not in ("month", "week"):
        view = "month"
    day = _parse_day(request.GET.get("date"))
    tz = timezone.get_current_timezone()
    if view == "month":
        weeks = month_grid(day.year, day.month)
        first, last = weeks[0][0], weeks[-1][-1]
        prev = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
        nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        title = day.strftime("%B %Y")
    else:
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=6)
        weeks = [[first + timedelta(days=i) for i in range(7)]]
        prev, nxt = first - timedelta(days=7), first + timedelta(days=7)
        title = f"Week {first.isocalendar()[1]}, {first:%d %b} – {last:%d %b %Y}"
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    entries = calendar_entries(request.user, start, end)
    today = timezone.localdate()
    weeks_out = []
    for week in weeks:
        lanes, hidden = week_lanes(week, entries, max_lanes=5 if view == "month" else None)
        weeks_out.append({
            "days": [{"day": d, "today": d == today, "outside": view == "month" and d.month != day.month,
                      "hidden": hidden[i], "col": i + 1} for i, d in enumerate(week)],
            "lanes": lanes,
            "rows": len(lanes) + 2,
        })
    agenda = [(d, [e for e in entries if e.covers(d)]) for week in weeks for d in week
              if view == "week" or d.month == day.month]
    return render(request, "releases/calendar.html", {
        "view": view, "weeks": weeks_out, "agenda": [(d, es) for d, es in agenda if es], "title": title, "day": day, "prev": prev, "next": nxt, "today": today,
        "entries": entries,
        "kinds": [("release", "Release window"), ("deployment", "Deployment window"), ("task", "Task"),
                  ("freeze", "Freeze window")],
    })
