"""A write costs at most one round trip to the cache (releasemgmt.generations):
the generations it touches are replaced together when it commits, in one
``set_many``, whatever it saved; nothing is sent before the commit, nothing
after a rollback. A thread reads its own uncommitted writes under a token no
other thread reads, and a replacement the cache missed is written with the
next one."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction

from releasemgmt import generations
from releases import scenario
from calendars.cache import FEEDS
from releases.counts import RELEASE_COUNTS
from releases.scenario import Walker, new_release
from releases.services import release_update, task_create

pytestmark = pytest.mark.django_db

# Each method of Django's cache API is one round trip to Redis (RedisCache's
# set_many is one pipeline); LocMemCache implements some through others.
API = ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "set_many", "delete_many", "clear")


class CountingCache(LocMemCache):
    """Local memory that counts calls of the cache API from outside it."""

    calls: Counter = Counter()
    failing = False  # answer as ResilientRedisCache does while Redis does not
    _depth = threading.local()


def _counted(name):
    real = getattr(LocMemCache, name)

    def method(self, *args, **kwargs):
        depth = getattr(CountingCache._depth, "n", 0)
        if depth == 0:
            CountingCache.calls[name] += 1
            if CountingCache.failing:
                return {"get": None, "get_many": {}, "set_many": list(args[0]) if args else []}.get(name, False)
        CountingCache._depth.n = depth + 1
        try:
            return real(self, *args, **kwargs)
        finally:
            CountingCache._depth.n = depth

    method.__name__ = name
    return method


for _name in API:
    setattr(CountingCache, _name, _counted(_name))


@pytest.fixture
def counting(settings):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.CountingCache", "LOCATION": "round-trips"}}
    CountingCache.calls = Counter()
    CountingCache.failing = False
    generations._unwritten.clear()
    yield CountingCache
    CountingCache.failing = False
    generations._unwritten.clear()


def round_trips() -> int:
    return sum(CountingCache.calls.values())


class CountedServices:
    """``releases.services`` as the scenario calls it: each call a committed
    write (its on_commit callbacks run), its cache round trips recorded."""

    def __init__(self, services, capture):
        self._services, self._capture, self.costs = services, capture, []

    def __getattr__(self, name):
        real = getattr(self._services, name)
        if not callable(real) or not name.startswith(("release_", "record_", "task_", "scope_")):
            return real

        def call(**kwargs):
            before_commit = None
            with self._capture(execute=True):
                start = round_trips()
                result = real(**kwargs)
                before_commit = round_trips() - start
            what = kwargs.get("name") or kwargs.get("record_type") or ""
            self.costs.append((f"{name} {what}".strip(), before_commit, round_trips() - start))
            return result

        return call


def test_each_write_of_a_release_walked_to_closed_costs_at_most_one_round_trip(
        counting, actors, cis, monkeypatch, django_capture_on_commit_callbacks):
    counted = CountedServices(scenario.s, django_capture_on_commit_callbacks)
    monkeypatch.setattr(scenario, "s", counted)
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("closed")

    names = [name for name, _, _ in counted.costs]
    assert {"release_create", "scope_set", "record_add plans", "release_transition start_planning",
            "release_transition schedule", "task_create", "task_transition start",
            "release_transition close"} <= set(names)
    assert len(counted.costs) > 40
    assert [c for c in counted.costs if c[1] != 0] == []  # nothing before the commit
    assert [c for c in counted.costs if c[2] > 1] == []  # at most one round trip each
    assert CountingCache.calls.keys() == {"set_many"}
    # Writes to what the list and the feed show do replace them.
    for name in ("release_create", "release_transition start_planning", "task_create", "release_transition close"):
        assert all(cost == 1 for n, _, cost in counted.costs if n == name), name


def test_a_cancel_replaces_both_generations_in_one_round_trip(counting, actors, cis,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        walker = Walker(new_release(actors, cis=cis), actors)
        walker.to("scheduled")  # the RFCs are scheduled: cancelling drives them back
    tokens = {FEEDS.key: FEEDS.current(), RELEASE_COUNTS.key: RELEASE_COUNTS.current()}
    assert None not in tokens.values()
    CountingCache.calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        walker.go("cancel", actors.release_manager, reason="Superseded by the next release.")
    assert CountingCache.calls == Counter({"set_many": 1})
    assert all(cache.get(key) not in (None, token) for key, token in tokens.items())


def test_a_rolled_back_write_costs_nothing(counting, actors, cis, django_capture_on_commit_callbacks):
    release = new_release(actors, cis=cis)
    CountingCache.calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            release_update(release_id=release.pk, by=actors.release_manager, title="Never committed")
            raise RuntimeError("rolled back")
    assert round_trips() == 0


def test_the_writer_reads_its_own_writes_under_a_token_nobody_else_reads(counting, actors, cis,
                                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        release = new_release(actors, cis=cis)
    committed = FEEDS.current()
    with transaction.atomic():
        release_update(release_id=release.pk, by=actors.release_manager, title="Uncommitted")
        own = FEEDS.current()
        task_create(release_id=release.pk, by=actors.release_manager, title="Also uncommitted", step=12)
        newer = FEEDS.current()
        assert len({committed, own, newer}) == 3  # each write: what was computed before is not served after
        assert cache.get(FEEDS.key) == committed  # what other threads read is unchanged until the commit

        seen = []
        other = threading.Thread(target=lambda: seen.append(FEEDS.current()))
        other.start()
        other.join()
        assert seen == [committed]


def test_a_replacement_the_cache_missed_is_written_with_the_next(counting, actors, cis,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        release = new_release(actors, cis=cis)
    before = FEEDS.current()
    CountingCache.failing = True
    with django_capture_on_commit_callbacks(execute=True):
        release_update(release_id=release.pk, by=actors.release_manager, title="Written while the cache is down")
    assert set(generations._unwritten) == {FEEDS.key, RELEASE_COUNTS.key}
    CountingCache.calls.clear()
    # The cache may still hold results from before that write: not used meanwhile.
    assert FEEDS.current() is None
    assert CountingCache.calls == Counter({"set_many": 1})  # it tried to catch up, and failed

    CountingCache.failing = False
    CountingCache.calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        task_create(release_id=release.pk, by=actors.release_manager, title="Written when it is back", step=12)
    assert CountingCache.calls == Counter({"set_many": 1})  # the missed ones went along
    assert generations._unwritten == {}
    assert FEEDS.current() not in (None, before)


def test_an_api_write_adds_one_round_trip_to_the_rate_limits_one(counting, actors, cis,
                                                                django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    with django_capture_on_commit_callbacks(execute=True):
        release = new_release(actors, cis=cis)
    client = APIClient()
    client.force_authenticate(actors.release_manager)
    CountingCache.calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/releases/{release.pk}/transitions/start_planning/", {}, format="json")
    assert response.status_code == 200, response.content
    # The rate limit counts the request (its window's first: one add here,
    # one pipelined INCR on Redis, see test_resilient_cache); the transition
    # (the release, its template's tasks, RFCs, log) one set_many.
    assert CountingCache.calls == Counter({"add": 1, "set_many": 1})
