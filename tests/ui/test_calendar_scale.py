"""The release calendar stays bounded however busy the period: a fixed number
of entries a day in the month and week grids and in the phone's agenda, the
rest counted ("+N more") and listed on the day's page, a page at a time.

At 100k releases a month holds over 15,000 tasks; drawing them all made the
page 4 MB. Here each busy day holds a few dozen entries, then three times as
many: the page's queries and what it draws stay the same, its counts follow
the data, and every entry it does not draw is on the day's list."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from releases.models import FreezeWindow, Release, ReleasePlan, Task, Vendor
from calendars.selectors import calendar_day, calendar_period, calendar_rows
from calendars.pages import DAY_PAGE_SIZE, MONTH_PER_DAY, WEEK_PER_DAY

pytestmark = pytest.mark.django_db

# A Wednesday in a month that starts on a Saturday (the month grid starts in
# February), far from the releases other fixtures plan around today.
DAY = date(2031, 3, 12)
CALENDAR = reverse("releases:calendar")


# Queries a request takes (pinned: a change that adds some shows here). Each
# takes the session, the user, their roles and their calendar link (4). The
# month and week: per kind of entry (freeze, deployment, release, task), its
# counts per day, the ids of the few shown, and their rows when there are
# some (no freeze window here: 4 + 3 * 3 + 2). A day's list: its count, the
# page's ids, and the rows of each kind on the page (at most 4 + 2 + 4).
# Both then mark the release windows shown with their conflicts and
# freezes: the windows with their CIs, and the freezes over them (2; the
# other releases on the same CIs are a third when a CI is in scope); the
# grids also read the freeze windows on their days (1).
GRID_QUERIES = 18
DAY_LIST_QUERIES = 12


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def fetch(client, url) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode(), len(ctx.captured_queries)


def bars(html: str) -> int:
    """The entries the grids draw (not their "+N more" links)."""
    return len(re.findall(r'class="entry kind-', html))


def grid_more(html: str) -> dict[str, int]:
    """Each day's "+N more" in the grid, by date."""
    found = re.findall(r'class="entry more c\d" href="\?view=day&amp;date=([\d-]+)">\+([\d,]+) more', html)
    return {d: int(n.replace(",", "")) for d, n in found}


def agenda_more(html: str) -> dict[str, int]:
    found = re.findall(r'class="row-link cal-more" href="\?view=day&amp;date=([\d-]+)">\+([\d,]+) more', html)
    return {d: int(n.replace(",", "")) for d, n in found}


def agenda_rows(html: str) -> int:
    agenda = html[html.index('<section class="agenda'):]
    return len(re.findall(r'<a class="row-link" ', agenda))


@pytest.fixture
def busy(actors):
    """``busy(n)`` adds, for ``DAY``: n release windows (9:00-17:00) each with
    a deployment window (10:00-12:00), n tasks (8:00-9:00); and n night tasks
    from the evening after ``DAY`` to the morning after that (on two days).
    The tasks' release is planned in January: not on the March grid."""
    manager = actors.release_manager
    parent = Release.objects.create(title="Parent", release_manager=manager,
                                    planned_start=at(date(2031, 1, 6), 9), planned_end=at(date(2031, 1, 7), 9))
    made = {"n": 0}

    def add(n):
        first = made["n"]
        made["n"] += n
        numbers = range(first, first + n)
        windows = Release.objects.bulk_create(
            Release(title=f"Window {i}", release_manager=manager, planned_start=at(DAY, 9),
                    planned_end=at(DAY, 17)) for i in numbers)
        ReleasePlan.objects.bulk_create(
            ReleasePlan(release=r, version=1, created_by=manager, created_in_state="planning",
                        deployment_start=at(DAY, 10), deployment_end=at(DAY, 12)) for r in windows)
        Task.objects.bulk_create(
            Task(release=parent, title=f"Busy task {i}", assignee_user=manager, planned_start=at(DAY, 8, i % 60),
                 planned_end=at(DAY, 9, i % 60)) for i in numbers)
        Task.objects.bulk_create(
            Task(release=parent, title=f"Night task {i}", assignee_user=manager,
                 planned_start=at(DAY + timedelta(days=1), 22), planned_end=at(DAY + timedelta(days=2), 2))
            for i in numbers)

    return add


def test_month_draws_a_few_a_day_and_counts_the_rest(login, actors, busy):
    client = login(actors.release_manager)
    url = CALENDAR + f"?date={DAY:%Y-%m-%d}"
    busy(8)
    client.get(url)  # warm caches (content types, the session)
    small, small_queries = fetch(client, url)
    busy(16)  # three times as many
    big, big_queries = fetch(client, url)

    # The same bars and agenda rows (titles one digit longer at most), in as many queries.
    assert bars(big) == bars(small) and agenda_rows(big) == agenda_rows(small)
    assert len(big) < len(small) * 1.05
    assert big_queries == small_queries == GRID_QUERIES
    # On DAY: 24 release windows, 24 deployment windows, 24 tasks; the grid
    # draws MONTH_PER_DAY of them. The night tasks are on the next two days.
    on_day = 3 * 24
    next_day, after = DAY + timedelta(days=1), DAY + timedelta(days=2)
    assert grid_more(big) == {f"{DAY:%Y-%m-%d}": on_day - MONTH_PER_DAY,
                              f"{next_day:%Y-%m-%d}": 24 - MONTH_PER_DAY,
                              f"{after:%Y-%m-%d}": 24 - MONTH_PER_DAY}
    # The agenda lists an entry on the day it starts: the night tasks only on the first night.
    assert agenda_more(big) == {f"{DAY:%Y-%m-%d}": on_day - MONTH_PER_DAY,
                                f"{next_day:%Y-%m-%d}": 24 - MONTH_PER_DAY}
    assert agenda_rows(big) == 2 * MONTH_PER_DAY
    # The agenda shows each day's first entries by start: the 8:00 tasks.
    agenda = big[big.index('<section class="agenda'):]
    assert agenda.count("Busy task") == MONTH_PER_DAY and "Window" not in agenda


def test_week_draws_a_few_a_day_and_counts_the_rest(login, actors, busy):
    client = login(actors.release_manager)
    url = CALENDAR + f"?view=week&date={DAY:%Y-%m-%d}"
    busy(12)  # more than a week's day shows, of each kind
    client.get(url)
    small, small_queries = fetch(client, url)
    busy(24)
    big, big_queries = fetch(client, url)

    assert bars(big) == bars(small) and agenda_rows(big) == agenda_rows(small)
    assert len(big) < len(small) * 1.05
    assert big_queries == small_queries == GRID_QUERIES
    next_day, after = DAY + timedelta(days=1), DAY + timedelta(days=2)
    assert grid_more(big) == {f"{DAY:%Y-%m-%d}": 3 * 36 - WEEK_PER_DAY,
                              f"{next_day:%Y-%m-%d}": 36 - WEEK_PER_DAY,
                              f"{after:%Y-%m-%d}": 36 - WEEK_PER_DAY}
    assert agenda_more(big) == {f"{DAY:%Y-%m-%d}": 3 * 36 - WEEK_PER_DAY,
                                f"{next_day:%Y-%m-%d}": 36 - WEEK_PER_DAY}
    assert agenda_rows(big) == 2 * WEEK_PER_DAY


def test_more_leads_to_every_entry_of_the_day(login, actors, busy):
    client = login(actors.release_manager)
    busy(24)
    month, _ = fetch(client, CALENDAR + f"?date={DAY:%Y-%m-%d}")
    link = re.search(r'class="entry more c\d" href="(\?view=day&amp;date=' + f"{DAY:%Y-%m-%d}" + ')"', month)
    url = CALENDAR + link.group(1).replace("&amp;", "&")
    drawn = set(re.findall(r'title="([^"]+?) · 2031-03-12', month))  # the bars drawn on DAY

    titles, pages, queries = [], 0, set()
    while url:
        body, n = fetch(client, url)
        pages += 1
        queries.add(n)
        assert "72 entries on this day" in body
        day_list = body[body.index('<section class="cal-day'):]
        titles += re.findall(r'<span class="chip kind-\w+">\w+</span> ([^<]+)<small>', day_list)
        later = re.search(r'<a href="\?([^"]+)">Later →</a>', body)
        url = CALENDAR + "?" + later.group(1).replace("&amp;", "&") if later else None

    assert pages == -(-72 // DAY_PAGE_SIZE) and max(queries) <= DAY_LIST_QUERIES
    parent = Release.objects.get(title="Parent")
    windows = Release.objects.filter(title__startswith="Window")
    expected = ({f"{parent.number}: Busy task {i}" for i in range(24)} | {f"{r.number} {r.title}" for r in windows}
                | {f"Deploy {r.number} {r.title}" for r in windows})
    assert len(titles) == 72 and set(titles) == expected
    assert len(drawn) == MONTH_PER_DAY and drawn <= expected


def test_the_day_list_pages_in_the_calendar_order(login, actors, busy):
    client = login(actors.release_manager)
    busy(8)
    url = CALENDAR + f"?view=day&date={DAY:%Y-%m-%d}"
    client.get(url)
    small, small_queries = fetch(client, url)
    busy(16)
    big, big_queries = fetch(client, url)
    assert big.count('<a class="row-link"') == DAY_PAGE_SIZE
    assert big_queries == small_queries <= DAY_LIST_QUERIES
    assert "Page 1 of 2" in big and "Later →" in big and "Earlier" not in big
    last, _ = fetch(client, url + "&page=2")
    assert last.count('<a class="row-link"') == 72 - DAY_PAGE_SIZE and "← Earlier" in last
    # By start: the 8:00 tasks, the 9:00 release windows, then the 10:00 deployments.
    day_list = big[big.index('<section class="cal-day'):]
    kinds = re.findall(r'<span class="chip kind-(\w+)">', day_list)
    assert kinds == ["task"] * 24 + ["release"] * 24 + ["deployment"] * 2
    # An empty day says so, and a page past the end shows the last one.
    assert "Nothing planned on this day." in fetch(client, CALENDAR + "?view=day&date=2031-03-02")[0]
    assert "Page 2 of 2" in fetch(client, url + "&page=99")[0]
    # A hand-made date at the end of the calendar is today's page, not an error.
    for view in ("day", "week", "month"):
        assert client.get(CALENDAR + f"?view={view}&date=9999-12-31").status_code == 200


def test_a_vendor_counts_only_its_own_tasks(login, actors, busy, make_user):
    vendor_user = make_user("vendor", username="acme-user")
    acme = Vendor.objects.create(name="Acme")
    acme.users.add(vendor_user)
    busy(12)
    Task.objects.filter(title__in=[f"Busy task {i}" for i in range(7)]).update(assignee_vendor=acme)
    client = login(vendor_user)
    month, _ = fetch(client, CALENDAR + f"?date={DAY:%Y-%m-%d}")
    assert "Window" not in month and "Night task" not in month
    assert grid_more(month) == {f"{DAY:%Y-%m-%d}": 7 - MONTH_PER_DAY}
    day, _ = fetch(client, CALENDAR + f"?view=day&date={DAY:%Y-%m-%d}")
    assert "7 entries on this day" in day and day.count("Busy task") == 7


def test_counts_agree_with_the_day_lists_at_the_edges(actors, busy):
    """What the grid counts on a day is what the day's list holds and what
    the entries drawn say they cover: entries ending at midnight (not on the
    next day), of no length at midnight, crossing weeks, begun before the
    period and running past it, and one of each kind."""
    manager = actors.release_manager
    busy(3)
    parent = Release.objects.get(title="Parent")
    first, last = date(2031, 2, 24), date(2031, 4, 6)  # the March grid
    Task.objects.bulk_create([
        Task(release=parent, title="Ends at midnight", planned_start=at(DAY, 20),
             planned_end=at(DAY + timedelta(days=1), 0)),
        Task(release=parent, title="No length", planned_start=at(DAY, 0), planned_end=at(DAY, 0)),
        Task(release=parent, title="Crosses a week", planned_start=at(date(2031, 3, 15), 18),
             planned_end=at(date(2031, 3, 18), 6)),
        Task(release=parent, title="Begun before", planned_start=at(date(2031, 2, 20), 9),
             planned_end=at(date(2031, 2, 25), 9)),
        Task(release=parent, title="Runs past", planned_start=at(date(2031, 4, 5), 9),
             planned_end=at(date(2031, 4, 9), 9)),
        Task(release=parent, title="Before the grid", planned_start=at(date(2031, 2, 20), 9),
             planned_end=at(date(2031, 2, 24), 0)),
        Task(release=parent, title="Cancelled", state="cancelled", planned_start=at(DAY, 9),
             planned_end=at(DAY, 10)),
    ])
    FreezeWindow.objects.create(name="Year end", start=at(date(2031, 3, 28), 0), end=at(date(2031, 4, 2), 0),
                                created_by=manager)
    # Enough a day to load every entry: then the counts can be checked one by one.
    period = calendar_period(manager, first, last, per_day=100)
    assert "Cancelled" not in {e.title for e in period.entries}
    assert "Before the grid" not in {e.title.split(": ", 1)[-1] for e in period.entries}
    day = first
    while day <= last:
        listed = calendar_rows((kind, pk) for _, kind, pk in calendar_day(manager, day))
        drawn = [e for e in period.entries if e.covers(day)]
        assert period.on_day[day] == len(listed) == len(drawn), day
        assert {(e.kind, e.pk) for e in listed} == {(e.kind, e.pk) for e in drawn}, day
        starting = [e for e in period.entries if max(e.first_day, first) == day]
        assert period.starting[day] == len(starting), day
        day += timedelta(days=1)
    assert period.on_day[DAY + timedelta(days=1)] == 3  # the night tasks; "Ends at midnight" is not on it
    assert period.on_day[date(2031, 4, 2)] == 0  # the freeze ends at midnight
