"""The dashboard and the release calendar."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
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
    # The agenda (what a phone shows) lists each entry once: on the day it
    # starts, or on the first day shown if it started before.
    days = [d for week in weeks for d in week if view == "week" or d.month == day.month]
    agenda = [(d, [e for e in entries
                   if timezone.localtime(e.start, tz).date() == d
                   or (i == 0 and timezone.localtime(e.start, tz).date() < d and e.covers(d))])
              for i, d in enumerate(days)]
    return render(request, "releases/calendar.html", {
        "private_feed": private_feed_url(request),
        "view": view, "weeks": weeks_out, "agenda": [(d, es) for d, es in agenda if es], "title": title, "day": day, "prev": prev, "next": nxt, "today": today,
        "entries": entries,
        "kinds": [("release", "Release window"), ("deployment", "Deployment window"), ("task", "Task"),
                  ("freeze", "Freeze window")],
    })


def private_feed_url(request) -> str:
    """The user's private iCalendar URL, if the feed exists and they made one."""
    from django.urls import NoReverseMatch

    from .. import models

    token_model = getattr(models, "CalendarToken", None)
    if token_model is None:
        return ""
    token = token_model.objects.filter(user=request.user).first()
    if token is None:
        return ""
    try:
        return request.build_absolute_uri(reverse("calendar-private-feed", args=[token.key]))
    except NoReverseMatch:
        return ""


@require_POST
@role_required
def calendar_subscription_view(request):
    """Make the user's private subscription URL (calendar clients cannot log in)."""
    from .. import models

    token_model = getattr(models, "CalendarToken", None)
    if token_model is None:
        raise Http404("There is no calendar feed.")
    token_model.for_user(request.user)
    messages.success(request, "Your private calendar link is ready; add it to your calendar app.")
    return redirect(reverse("releases:calendar") + "#subscribe")
