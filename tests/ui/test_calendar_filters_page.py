"""The calendar pages show what is still to happen, narrowed by filters kept
in the address; today's releases are never the ones hidden; conflicts and
freezes are said in words."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calendars.pages import MONTH_PER_DAY
from releases.models import FreezeWindow, Release, ReleaseScopeItem, Task, Team

pytestmark = pytest.mark.django_db
CALENDAR = reverse("releases:calendar")
H = timedelta(hours=1)


def release(manager, title, *, state="scheduled", kind="minor", cis=(), start=None, hours=4):
    start = start or timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)
    r = Release.objects.create(title=title, release_manager=manager, state=state, release_type=kind,
                               planned_start=start, planned_end=start + hours * H)
    for ci in cis:
        ReleaseScopeItem.objects.create(release=r, ci=ci, target_version="9.9")
    return r


def grid(html: str) -> str:
    return html[html.index('<div class="calendar'):html.index('<section class="agenda')]


@pytest.fixture
def world(actors, cis, make_user):
    rm = actors.release_manager
    other = make_user("release_manager", username="otherrm")
    ops = Team.objects.create(name="Ops")
    ops.members.add(rm)
    w = {"rm": rm, "ci": cis[0], "ci2": cis[1]}
    w["mine"] = release(rm, "Mine minor", cis=[cis[0]])
    w["theirs"] = release(other, "Theirs major", kind="major", cis=[cis[1]])
    w["closed"] = release(rm, "Closed one", state="closed")
    w["rolled"] = release(rm, "Rolled back one", state="rolled_back")
    w["cancelled"] = release(rm, "Cancelled one", state="cancelled")
    start = w["theirs"].planned_start
    Task.objects.create(release=w["theirs"], title="Ops open task", assignee_team=ops, planned_start=start,
                        planned_end=start + H)
    Task.objects.create(release=w["theirs"], title="Finished task", state="done", assignee_user=other,
                        planned_start=start, planned_end=start + H)
    return w


def test_the_month_shows_what_is_still_to_happen_unless_asked(login, world):
    client = login(world["rm"])
    page = client.get(CALENDAR).content.decode()
    for shown in ("Mine minor", "Theirs major", "Ops open task"):
        assert shown in page
    for hidden in ("Closed one", "Rolled back one", "Cancelled one", "Finished task"):
        assert hidden not in page
    page = client.get(CALENDAR + "?finished=1").content.decode()
    for shown in ("Closed one", "Rolled back one"):
        assert shown in page
    day = client.get(CALENDAR + "?view=day").content.decode()
    assert "3 entries on this day" in day and "Finished task" not in day
    day = client.get(CALENDAR + "?view=day&finished=1").content.decode()
    assert "6 entries on this day" in day and "Finished task" in day and "Cancelled one" not in day


@pytest.mark.parametrize("query, shown, hidden", [
    ("mine=1", {"Mine minor"}, {"Theirs major"}),
    ("teams=1", {"Theirs major", "Ops open task"}, {"Mine minor"}),
    ("type=major", {"Theirs major"}, {"Mine minor"}),
    ("ci=CI_NAME", {"Mine minor"}, {"Theirs major", "Ops open task"}),
])
@pytest.mark.parametrize("view", ["month", "week", "day"])
def test_each_filter_narrows_each_view_and_stays_in_its_links(login, world, query, shown, hidden, view):
    query = query.replace("CI_NAME", world["ci"].name)
    client = login(world["rm"])
    response = client.get(CALENDAR + f"?view={view}&{query}")
    assert response.status_code == 200
    page = response.content.decode()
    assert all(t in page for t in shown) and not any(t in page for t in hidden)
    # The previous, next, today and view links keep the filter: the view can be bookmarked.
    for label in ("Previous", "Next"):
        href = re.search(rf'<a href="([^"]+)" aria-label="{label} {view}"', page).group(1)
        assert query.replace(" ", "+") in href.replace("&amp;", "&")
    # And the form shows it set.
    key = query.split("=")[0]
    assert re.search(rf'name="{key}"[^>]*(checked|value="{re.escape(query.split("=")[1])}")', page) or \
        f'<option value="{query.split("=")[1]}" selected>' in page


def test_an_unknown_ci_says_so(login, world):
    response = login(world["rm"]).get(CALENDAR + "?ci=no-such-thing")
    assert response.status_code == 400
    assert "No configuration item is named" in response.content.decode()


def test_todays_releases_are_drawn_first_and_counted(login, world, actors):
    today = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    # Long tasks from yesterday to tomorrow would take every lane of the day.
    for i in range(MONTH_PER_DAY + 1):
        Task.objects.create(release=world["mine"], title=f"Long task {i}", assignee_user=actors.release_manager,
                            planned_start=today - 24 * H, planned_end=today + 30 * H)
    for i in range(MONTH_PER_DAY + 2):
        release(world["rm"], f"Today release {i}", start=today + i * timedelta(minutes=5))
    page = login(world["rm"]).get(CALENDAR).content.decode()
    drawn = set(re.findall(r'class="entry kind-release[^"]*" href="[^"]*"\s+title="REL-\d+ (Today release \d)', grid(page)))
    assert len(drawn) == MONTH_PER_DAY
    # The phone's agenda lists today's releases before the tasks that started earlier today.
    today_releases = Release.objects.filter(title__startswith="Today release").order_by("planned_start")[:2]
    for i in range(MONTH_PER_DAY + 2):
        Task.objects.create(release=world["mine"], title=f"Early task {i}", assignee_user=actors.release_manager,
                            planned_start=today - 2 * H, planned_end=today - H)
    agenda = login(world["rm"]).get(CALENDAR).content.decode()
    agenda = agenda[agenda.index('<section class="agenda'):]
    assert all(f"{r.number} {r.title}" in agenda for r in today_releases)
    # The rest (and the two planned windows of the fixture) are counted and one click away.
    link = re.search(r'<a class="today-releases" href="([^"]+)">(\d+) more releases today</a>', page)
    assert link and int(link.group(2)) == MONTH_PER_DAY + 2 + 2 - MONTH_PER_DAY
    day = login(world["rm"]).get(CALENDAR + link.group(1).replace("&amp;", "&")).content.decode()
    assert "9 release windows on this day" in day and "Long task" not in day


def test_conflicts_and_freezes_are_said_in_words(login, world, actors):
    start = world["mine"].planned_start
    clash = release(actors.release_manager, "Clash", cis=[world["ci"]], start=start + H)
    FreezeWindow.objects.create(name="Year end", start=start - 2 * H, end=start + H)
    page = login(world["rm"]).get(CALENDAR).content.decode()
    assert f"Conflict: {clash.number} on {world['ci'].name}" in page
    assert f"Conflict: {world['mine'].number} on {world['ci'].name}" in page
    assert f"Conflict: {world['theirs'].number}" not in page  # another CI: no conflict
    assert re.search(r'class="mark mark-conflict" title="Conflict: [^"]+">Conflict</span>', grid(page))
    # The freeze: on its day in the grid, and on the releases it covers (a global freeze covers all).
    assert re.search(r'<span class="cal-freeze" title="Change freeze: Year end">Freeze</span>', grid(page))
    assert "Freeze: Year end" in page and ">In freeze</span>" in grid(page)
    day = login(world["rm"]).get(CALENDAR + "?view=day").content.decode()
    assert f"Conflict: {clash.number} on {world['ci'].name}" in day
