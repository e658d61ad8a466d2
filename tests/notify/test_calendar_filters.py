"""What the calendar shows: what is still to happen by default, narrowed by
filters kept in the address; the general feed holds release windows,
deployment windows and freezes, tasks go to the personal, team and release
feeds; the feed cache is keyed by the filters; a vendor still sees only its
own work whatever it asks."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from calendars import views as calendar_views
from cmdb.models import ConfigurationItem
from releases.models import CalendarToken, FreezeWindow, Release, ReleasePlan, ReleaseScopeItem, Task, Team, Vendor
from releases.services import release_update
from tests.helpers import ics_events

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _window_pinned(monkeypatch):
    """Polls within a test ask for the same window (calendars.cache)."""
    start, end = calendar_views.calendar_window()
    monkeypatch.setattr(calendar_views, "calendar_window", lambda s=None, e=None: (s or start, e or end))


def release(manager, title, *, state="scheduled", kind="minor", cis=(), start=None, hours=6, plan=True):
    start = start or timezone.now() - H
    r = Release.objects.create(title=title, release_manager=manager, state=state, release_type=kind,
                               planned_start=start, planned_end=start + hours * H)
    for ci in cis:
        ReleaseScopeItem.objects.create(release=r, ci=ci, target_version="9.9")
    if plan:
        ReleasePlan.objects.create(release=r, version=1, created_by=manager, created_in_state="planning",
                                   deployment_start=start + H, deployment_end=start + 2 * H)
    return r


def task(r, title, *, state="open", **assignee):
    return Task.objects.create(release=r, title=title, state=state, planned_start=r.planned_start,
                               planned_end=r.planned_start + H, **assignee)


@pytest.fixture
def world(actors, cis, make_user):
    rm, other_rm = actors.release_manager, make_user("release_manager", username="otherrm")
    ops = Team.objects.create(name="Ops")
    ops.members.add(actors.deployment_team)
    acme = Vendor.objects.create(name="Acme")
    vendor_user = make_user("vendor", username="acmeuser")
    acme.users.add(vendor_user)
    w = SimpleNamespace(rm=rm, other_rm=other_rm, ops=ops, acme=acme, vendor_user=vendor_user, ci=cis[0],
                        ci2=cis[1], deployer=actors.deployment_team, tester=actors.test_team)
    w.mine = release(rm, "Mine minor", cis=[cis[0]])
    w.theirs = release(other_rm, "Theirs major", kind="major", cis=[cis[1]])
    w.closed = release(rm, "Closed one", state="closed")
    w.rolled_back = release(rm, "Rolled back one", state="rolled_back")
    w.cancelled = release(rm, "Cancelled one", state="cancelled")
    w.team_task = task(w.theirs, "Ops task", assignee_team=ops)
    w.done_task = task(w.theirs, "Done task", state="done", assignee_team=ops)
    w.tester_task = task(w.mine, "Tester task", assignee_user=actors.test_team)
    w.vendor_task = task(w.theirs, "Acme task", assignee_vendor=acme)
    w.freeze = FreezeWindow.objects.create(name="Year end", start=timezone.now(), end=timezone.now() + 2 * H)
    return w


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def titles(client, url) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return {e["title"] for e in response.json()}


def release_titles(client, url) -> set[str]:
    return {t.split(" ", 1)[1].rsplit(" (", 1)[0] for t in titles(client, url) if t.endswith("(planned window)")}


def test_the_general_feed_holds_windows_and_freezes_of_what_is_still_to_happen(world):
    body = api(world.rm).get("/api/calendar/").json()
    assert {e["kind"] for e in body} == {"release_window", "deployment_window", "freeze"}
    assert release_titles(api(world.rm), "/api/calendar/") == {"Mine minor", "Theirs major"}
    # Asked for, the finished releases too (a cancelled one never: it did not happen).
    assert release_titles(api(world.rm), "/api/calendar/?finished=1") == {
        "Mine minor", "Theirs major", "Closed one", "Rolled back one"}
    ics = ics_events(api(world.rm).get("/calendar.ics").content)
    assert not any(uid.startswith("task-") for uid in ics)
    assert f"freeze-{world.freeze.pk}@127.0.0.1" in ics
    assert f"release-{world.closed.pk}-window@127.0.0.1" not in ics


def test_the_feed_filters(world):
    rm, deployer = api(world.rm), api(world.deployer)
    assert release_titles(rm, "/api/calendar/?mine=1") == {"Mine minor"}
    assert release_titles(api(world.other_rm), "/api/calendar/?mine=true") == {"Theirs major"}
    # The tester has a task in "Mine minor"; the deployer's team one in "Theirs major".
    assert release_titles(api(world.tester), "/api/calendar/?mine=1") == {"Mine minor"}
    assert release_titles(deployer, "/api/calendar/?teams=1") == {"Theirs major"}
    assert release_titles(rm, "/api/calendar/?teams=1") == set()
    assert release_titles(rm, f"/api/calendar/?ci={world.ci2.pk}") == {"Theirs major"}
    assert release_titles(rm, "/api/calendar/?type=major") == {"Theirs major"}
    assert release_titles(rm, "/api/calendar/?type=minor&finished=1") == {"Mine minor", "Closed one",
                                                                         "Rolled back one"}
    # A CI's calendar keeps the global freezes.
    assert "Change freeze: Year end" in titles(rm, f"/api/calendar/?ci={world.ci.pk}")
    ics = ics_events(rm.get("/calendar.ics?type=major").content)
    assert {str(e["summary"]) for e in ics.values() if "planned window" in str(e["summary"])} == {
        f"{world.theirs.number} Theirs major (planned window)"}


@pytest.mark.parametrize("query, field", [("type=huge", "type"), ("finished=maybe", "finished"),
                                          ("mine=2", "mine"), ("ci=abc", "ci")])
def test_a_bad_filter_is_a_400_that_says_why(world, query, field):
    response = api(world.rm).get(f"/api/calendar/?{query}")
    assert response.status_code == 400 and field in response.json()
    assert api(world.rm).get(f"/calendar.ics?{query}").status_code == 400


def test_an_unknown_ci_is_not_found(world):
    assert api(world.rm).get("/api/calendar/?ci=999999").status_code == 404


def test_tasks_are_in_the_team_release_and_personal_feeds(world):
    rm = api(world.rm)
    team = {e["title"] for e in rm.get(f"/api/calendar/?team={world.ops.pk}").json() if e["kind"] == "task"}
    assert team == {f"{world.theirs.number}: Ops task"}  # the done task only with finished=1
    team_all = {e["title"] for e in rm.get(f"/api/calendar/?team={world.ops.pk}&finished=1").json()
                if e["kind"] == "task"}
    assert team_all == {f"{world.theirs.number}: Ops task", f"{world.theirs.number}: Done task"}
    of_release = {e["title"] for e in rm.get(f"/api/calendar/?release={world.mine.pk}").json() if e["kind"] == "task"}
    assert of_release == {f"{world.mine.number}: Tester task"}

    anonymous = APIClient()
    # The deployer's: their team's task, and the release it is in.
    mine = ics_events(anonymous.get(f"/calendar/{CalendarToken.for_user(world.deployer).key}.ics").content)
    assert {u for u in mine if u.startswith("task-")} == {f"task-{world.team_task.pk}@127.0.0.1"}
    assert f"release-{world.theirs.pk}-window@127.0.0.1" in mine
    assert f"release-{world.mine.pk}-window@127.0.0.1" not in mine
    # The release manager's: the releases they manage and the tasks in them.
    managed = ics_events(anonymous.get(f"/calendar/{CalendarToken.for_user(world.rm).key}.ics").content)
    assert f"task-{world.tester_task.pk}@127.0.0.1" in managed
    assert f"release-{world.mine.pk}-window@127.0.0.1" in managed
    assert f"release-{world.theirs.pk}-window@127.0.0.1" not in managed
    assert f"release-{world.closed.pk}-window@127.0.0.1" not in managed
    with_finished = anonymous.get(f"/calendar/{CalendarToken.for_user(world.rm).key}.ics?finished=1")
    assert f"release-{world.closed.pk}-window@127.0.0.1" in ics_events(with_finished.content)
    assert anonymous.get(f"/calendar/{CalendarToken.for_user(world.rm).key}.ics?type=x").status_code == 400


def test_the_feed_cache_is_keyed_by_the_filters_and_whose_they_are(world, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    rendered = []
    real = calendar_views.entries
    monkeypatch.setattr(calendar_views, "entries", lambda **kw: rendered.append(kw) or real(**kw))
    rm, other = api(world.rm), api(world.other_rm)
    for _ in range(3):
        default = rm.get("/calendar.ics")
    assert len(rendered) == 2  # stored from the second request, then served
    finished = rm.get("/calendar.ics?finished=1")
    assert len(rendered) == 3 and finished.content != default.content
    assert f"release-{world.closed.pk}-window@127.0.0.1" in ics_events(finished.content)
    # "Mine" is the asker's: two users' are two feeds, never one served to the other.
    for _ in range(2):
        mine = rm.get("/calendar.ics?mine=1")
    theirs = other.get("/calendar.ics?mine=1")
    assert len(rendered) == 6
    assert f"release-{world.mine.pk}-window@127.0.0.1" in ics_events(mine.content)
    assert f"release-{world.mine.pk}-window@127.0.0.1" not in ics_events(theirs.content)
    # Any other filter value is another feed.
    for query in ("teams=1", f"ci={world.ci.pk}", "type=major"):
        rm.get(f"/calendar.ics?{query}")
    assert len(rendered) == 9
    # A change to what a filtered feed shows is in its next poll.
    before = rm.get("/calendar.ics?type=major")
    assert rm.get("/calendar.ics?type=major").content == before.content and len(rendered) == 10
    with django_capture_on_commit_callbacks(execute=True):
        release_update(release_id=world.theirs.pk, by=world.other_rm, planned_end=world.theirs.planned_end + H)
    after = rm.get("/calendar.ics?type=major")
    assert len(rendered) == 11 and after.content != before.content


def test_a_vendor_sees_only_its_own_work_whatever_it_filters(world):
    vendor = api(world.vendor_user)
    for query in ("", "?finished=1", "?teams=1", "?mine=1", "?type=major", f"?team={world.ops.pk}"):
        response = vendor.get(f"/api/calendar/{query}")
        if response.status_code == 404:  # a team it may not see
            continue
        body = response.json()
        assert {e["release"] for e in body if e["release"]} <= {world.theirs.pk}, query
        assert {e["title"] for e in body if e["kind"] == "task"} <= {f"{world.theirs.number}: Acme task"}, query
    own = vendor.get("/api/calendar/").json()
    assert {e["title"] for e in own if e["kind"] == "task"} == {f"{world.theirs.number}: Acme task"}
    ics = ics_events(vendor.get("/calendar.ics?finished=1").content)
    assert not any(world.mine.title in str(e["summary"]) or "Ops task" in str(e["summary"]) for e in ics.values())
    private = APIClient().get(f"/calendar/{CalendarToken.for_user(world.vendor_user).key}.ics?finished=1")
    assert {u for u in ics_events(private.content) if u.startswith("task-")} == {
        f"task-{world.vendor_task.pk}@127.0.0.1"}


def test_the_feed_takes_as_many_queries_for_many_entries_as_for_few(world, actors):
    client = api(world.rm)

    def queries(url):
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    start = timezone.now() + 24 * H
    key = CalendarToken.for_user(world.rm).key
    few = {}
    for n in (3, 12):
        for i in range(n):
            r = release(world.rm, f"Bulk {n}-{i}", cis=[world.ci], start=start + i * H)
            task(r, f"Bulk task {n}-{i}", assignee_team=world.ops)
        few[n] = (queries("/api/calendar/?mine=1&ci=%d" % world.ci.pk),
                  queries(f"/api/calendar/?team={world.ops.pk}"),
                  queries(f"/calendar/{key}.ics"))
    assert few[3] == few[12]
