"""The iCalendar feed is served from the cache while nothing it shows has
changed, and renders afresh on the next poll after any change to what it
shows (calendars.cache)."""
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from calendars import cache as calendar_cache, views as calendar_views
from releases.models import CalendarToken, FreezeWindow, ReleasePlan, Team, Vendor
from releases.scenario import Walker, new_release
from releases.services import release_update, task_create, task_update
from tests.helpers import ics_events

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _window_pinned(monkeypatch):
    """A feed without start and end covers a window counted from the current
    minute, so polls a minute apart are two feeds. Pinned here, so that a
    test's polls cannot straddle a minute boundary."""
    start, end = calendar_views.calendar_window()
    monkeypatch.setattr(calendar_views, "calendar_window", lambda s=None, e=None: (s or start, e or end))


@pytest.fixture
def renders(monkeypatch):
    """How many times a feed was rendered (rather than served from the cache)."""
    count = {"n": 0}
    real = calendar_views.entries

    def counting(**kwargs):
        count["n"] += 1
        return real(**kwargs)

    monkeypatch.setattr(calendar_views, "entries", counting)
    return count


@pytest.fixture
def world(actors, cis):
    team = Team.objects.create(name="Ops")
    vendor = Vendor.objects.create(name="Acme")
    release = Walker(new_release(actors, cis=cis), actors).to("scheduled")
    task_create(release_id=release.pk, by=actors.release_manager, title="Smoke test", step=13,
                assignee_user=actors.deployment_team, planned_start=release.planned_start + timedelta(hours=1),
                planned_end=release.planned_start + timedelta(hours=2))
    tasks = list(release.tasks.order_by("id"))
    task_update(task_id=tasks[0].pk, by=actors.release_manager, assignee_user=None, assignee_team=team)
    task_update(task_id=tasks[1].pk, by=actors.release_manager, assignee_user=None, assignee_vendor=vendor)
    client = APIClient()
    client.force_authenticate(actors.release_manager)
    return client, release, tasks, team, vendor


def test_a_poll_with_nothing_changed_is_served_from_the_cache(world, renders):
    client = world[0]
    # Stored when asked for a second time; served from the cache after that.
    # (The first two are rendered, each with its own DTSTAMP; the second is
    # the one stored.)
    first, second, third, fourth = (client.get("/calendar.ics") for _ in range(4))
    assert first.status_code == second.status_code == third.status_code == 200
    assert renders["n"] == 2
    assert third.content == fourth.content == second.content and third["ETag"] == second["ETag"]
    assert first["Cache-Control"] == "private, no-cache"
    # Another window or filter is another feed.
    for _ in range(3):
        client.get("/calendar.ics?start=2020-01-01T00:00:00Z&end=2030-01-01T00:00:00Z")
        client.get(f"/calendar.ics?release={world[1].pk}")
    assert renders["n"] == 6


def test_a_client_walking_through_windows_does_not_fill_the_cache(world, renders):
    from django.core.cache import cache

    client = world[0]
    for day in range(1, 21):
        assert client.get(f"/calendar.ics?start=2026-01-{day:02d}T00:00:00Z").status_code == 200
    assert renders["n"] == 20
    stored = [k for k in cache._cache if b"BEGIN:VCALENDAR" in cache._cache[k]]  # the local-memory backend
    assert stored == []


def test_a_client_holding_the_feed_gets_304(world, renders):
    client = world[0]
    client.get("/calendar.ics")
    etag = client.get("/calendar.ics")["ETag"]  # the stored feed's
    again = client.get("/calendar.ics", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client.get("/calendar.ics", HTTP_IF_NONE_MATCH='"other"').status_code == 200


CHANGES = {
    "release rescheduled": lambda a, release, tasks, team, vendor: release_update(
        release_id=release.pk, by=a.release_manager, planned_end=release.planned_end + timedelta(days=1)),
    "task retitled": lambda a, release, tasks, team, vendor: task_update(
        task_id=tasks[0].pk, by=a.release_manager, title="Renamed task"),
    "team renamed": lambda a, release, tasks, team, vendor: _rename(team, "Operations"),
    "vendor renamed": lambda a, release, tasks, team, vendor: _rename(vendor, "Acme Corp"),
    "assignee renamed": lambda a, release, tasks, team, vendor: _rename_user(tasks[2].assignee_user, "renamed"),
    "new plan version": lambda a, release, tasks, team, vendor: ReleasePlan.objects.create(
        release=release, version=99, created_by=a.release_manager, created_in_state="scheduled",
        deployment_start=release.planned_start, deployment_end=release.planned_start + timedelta(hours=1)),
    "freeze declared": lambda a, release, tasks, team, vendor: FreezeWindow.objects.create(
        name="Year end", start=release.planned_start, end=release.planned_end, reason="Closing the books"),
    "task deleted": lambda a, release, tasks, team, vendor: tasks[2].delete(),
}


def _rename(obj, name):
    obj.name = name
    obj.save()


def _rename_user(user, name):
    user.username = name
    user.save()


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_to_what_the_feed_shows_shows_in_the_next_poll(world, actors, renders, change,
                                                                   django_capture_on_commit_callbacks):
    client, release, tasks, team, vendor = world
    feed = f"/calendar.ics?release={release.pk}"  # the release's feed: its windows, tasks and freezes
    client.get(feed)
    before = client.get(feed)  # rendered again and stored
    assert client.get(feed).content == before.content and renders["n"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        CHANGES[change](actors, release, tasks, team, vendor)
    after = client.get(feed)
    assert renders["n"] == 3, "the change did not invalidate the cached feed"
    assert after.content != before.content and after["ETag"] != before["ETag"]
    assert client.get(feed, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 200


def test_a_login_does_not_drop_the_stored_feeds(world, actors, renders):
    client = world[0]
    for _ in range(3):
        client.get("/calendar.ics")
    assert renders["n"] == 2
    before = actors.requester.last_login
    Client().force_login(actors.requester)  # user_logged_in: saves last_login alone
    actors.requester.refresh_from_db()
    assert actors.requester.last_login != before
    client.get("/calendar.ics")
    assert renders["n"] == 2


def test_the_generation_is_replaced_again_when_the_write_commits(world, actors, django_capture_on_commit_callbacks):
    # A feed rendered between the write and its commit reads the old data:
    # the replacement at commit makes sure it is never served.
    release = world[1]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        release_update(release_id=release.pk, by=actors.release_manager, title="Renamed release")
        during = calendar_cache.FEEDS.current()
    assert callbacks
    for callback in callbacks:
        callback()
    assert calendar_cache.FEEDS.current() != during


def test_the_private_feed_is_cached_per_user(world, actors, renders):
    token = CalendarToken.for_user(actors.release_manager)
    anonymous = APIClient()
    anonymous.get(f"/calendar/{token.key}.ics")
    first = anonymous.get(f"/calendar/{token.key}.ics")  # rendered again and stored
    assert anonymous.get(f"/calendar/{token.key}.ics").content == first.content
    other = CalendarToken.for_user(actors.deployment_team)
    assert anonymous.get(f"/calendar/{other.key}.ics").content != first.content
    assert renders["n"] == 3


def test_feeds_and_writes_work_with_the_cache_down(world, actors, settings, renders):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    client, release = world[0], world[1]
    assert client.get("/calendar.ics").status_code == 200
    release_update(release_id=release.pk, by=actors.release_manager, title="Written while the cache is down")
    feed = client.get("/calendar.ics")
    assert feed.status_code == 200 and b"Written while the cache is down" in feed.content
    assert renders["n"] == 2
    assert ics_events(feed.content)
