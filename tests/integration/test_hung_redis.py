"""A hung Redis (stopped with SIGSTOP, not down) does not stall the app.

The app runs as users run it: gunicorn (several worker processes, each with
threads) against the test database, its cache and its Celery broker pointed
at a redis-server of this test's own. Redis is frozen for 15 s; meanwhile a
writer creates releases, moves them (start planning, cancel) and reads the
lists and a calendar feed, while a reader polls the list and the feed. No
request takes over 2 s, every answer is right (the lists count what the
database holds, the feed shows the new releases), and nothing is lost: each
cancel's log and outbox rows are there. After SIGCONT the cache is used
again once the breaker's period is over (releasemgmt.cache).

Outside CI this is skipped without PostgreSQL or a ``redis-server`` binary;
in CI it fails instead.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from releases.models import OutboxMessage, Release, TransitionLog
from releases.scenario import authorised_rfc

from ..security.live_server import gunicorn
from tests.helpers import IN_CI

from .test_real_worker import redis_server  # noqa: F401  (the fixture)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not IN_CI and not shutil.which("redis-server"), reason="needs the redis-server binary"),
]

HUNG_SECONDS = 15
LIMIT = 2.0  # the bound for any request while Redis hangs
BREAKER_SECONDS = 2
PREFIX = "releasemgmt:1:"  # the cache's KEY_PREFIX and key version


class Timed:
    """Requests through the live server, each timed and checked; what went
    wrong is collected (threads cannot fail the test themselves)."""

    def __init__(self, server, limit: float | None = LIMIT):
        self.server, self.limit = server, limit
        self.lock = threading.Lock()
        self.timings: list[tuple[str, float]] = []
        self.problems: list[str] = []

    def __call__(self, method, path, *, token, body=None, expect=200):
        started = time.monotonic()
        try:
            response = self.server.request(method, path, token=token, body=body, timeout=30)
        except OSError as exc:
            self.problem(f"{method} {path}: {exc!r} after {time.monotonic() - started:.2f} s")
            return None
        elapsed = time.monotonic() - started
        with self.lock:
            self.timings.append((f"{method} {path}", elapsed))
        if self.limit is not None and elapsed > self.limit:
            self.problem(f"{method} {path} took {elapsed:.2f} s")
        if response.status != expect:
            self.problem(f"{method} {path}: {response.status} (expected {expect}) {response.body[:300]!r}")
            return None
        return response

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def slowest(self):
        return max(self.timings, key=lambda t: t[1]) if self.timings else ("none", 0.0)


def throttle_count(client: redis.Redis, token: str) -> int:
    """The API rate limit's count of a token's requests, as the cache holds
    it (a counter per window: summed, should the test straddle two)."""
    ident = "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return sum(int(client.get(key)) for key in client.scan_iter(f"{PREFIX}throttle_api_{ident}:*"))


def generations(client: redis.Redis) -> dict:
    return {name: client.get(f"{PREFIX}generation:{name}") for name in ("calendar-feed", "release-count")}


def test_with_redis_hung_for_15_s_no_request_takes_over_2_s_and_nothing_is_lost(actors, redis_server):
    assert connection.vendor == "postgresql"
    rfc = authorised_rfc(actors, "Change released while Redis hangs")
    rm_token = Token.objects.create(user=actors.release_manager).key
    reader_token = Token.objects.create(user=actors.change_manager).key
    later_token = Token.objects.create(user=actors.delivery_manager).key
    now = timezone.now()
    body = {"title": "", "release_type": "minor", "rfcs": [rfc.pk], "description": "Made while Redis hangs.",
            "planned_start": (now - timedelta(days=1)).isoformat(), "planned_end": (now + timedelta(days=14)).isoformat()}
    inspect = redis.Redis.from_url(redis_server.url, socket_timeout=5)

    with gunicorn(connection.settings_dict, workers=3, threads=4, cache_url=redis_server.url,
                  broker_url=redis_server.url,
                  env={"CACHE_BREAKER_SECONDS": str(BREAKER_SECONDS), "CACHE_TIMEOUT_SECONDS": "0.25"}) as server:
        # Healthy: the cache is in use (rate-limit records, generations, a
        # stored feed). Each worker's first requests load what it loads
        # lazily: not timed.
        warm_up = Timed(server, limit=None)
        for _ in range(4):
            assert warm_up("GET", "/api/releases/?state=cancelled", token=rm_token)
            assert warm_up("GET", "/calendar.ics", token=reader_token)
        assert warm_up.problems == [], warm_up.problems
        assert throttle_count(inspect, rm_token) == 4
        before = generations(inspect)
        assert all(before.values()), before
        call = Timed(server)

        cancelled_before = Release.objects.filter(state="cancelled").count()
        made: list[int] = []
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                n += 1
                created = call("POST", "/api/releases/", token=rm_token,
                               body={**body, "title": f"Hung Redis release {n}"}, expect=201)
                if created is None:
                    return
                pk = created.json()["id"]
                made.append(pk)
                feed = call("GET", f"/calendar.ics?release={pk}", token=rm_token)
                if feed is not None and f"release-{pk}-window@".encode() not in feed.body:
                    call.problem(f"the feed of release {pk} does not show it")
                moved = call("POST", f"/api/releases/{pk}/transitions/start_planning/", token=rm_token)
                if moved is not None and moved.json()["state"] != "planning":
                    call.problem(f"start_planning left release {pk} in {moved.json()['state']}")
                gone = call("POST", f"/api/releases/{pk}/transitions/cancel/", token=rm_token,
                            body={"reason": "Withdrawn while Redis hangs."})
                if gone is not None and gone.json()["state"] != "cancelled":
                    call.problem(f"cancel left release {pk} in {gone.json()['state']}")
                listed = call("GET", "/api/releases/?state=cancelled", token=rm_token)
                if listed is not None and listed.json()["count"] != cancelled_before + len(made):
                    call.problem(f"the list counts {listed.json()['count']} cancelled releases, "
                                 f"the database {cancelled_before + len(made)}")

        def reader():
            seen = 0
            while not stop.is_set():
                listed = call("GET", "/api/releases/", token=reader_token)
                if listed is not None:
                    if listed.json()["count"] < seen:
                        call.problem(f"the list went back from {seen} to {listed.json()['count']} releases")
                    seen = listed.json()["count"]
                feed = call("GET", "/calendar.ics", token=reader_token)
                if feed is not None and not feed.body.startswith(b"BEGIN:VCALENDAR"):
                    call.problem("the feed is not iCalendar")

        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        hung_at = time.monotonic()
        threads = [threading.Thread(target=writer, daemon=True), threading.Thread(target=reader, daemon=True)]
        for t in threads:
            t.start()
        time.sleep(HUNG_SECONDS)
        stop.set()
        for t in threads:
            t.join(30)
        requests_while_hung = len(call.timings)
        os.kill(redis_server.proc.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        print(f"{requests_while_hung} requests in {resumed_at - hung_at:.1f} s with Redis hung, "
              f"slowest {call.slowest()[0]} {call.slowest()[1]:.2f} s; {len(made)} releases made and cancelled")

        assert not any(t.is_alive() for t in threads), "a client is still waiting"
        assert call.problems == [], call.problems
        assert len(made) >= 3, f"only {len(made)} rounds in {HUNG_SECONDS} s"

        # Nothing lost: every release, its transitions and its cancel notices are in the database.
        release_type = ContentType.objects.get_for_model(Release)
        assert Release.objects.filter(pk__in=made, state="cancelled").count() == len(made)
        for pk in made:
            assert sorted(TransitionLog.objects.filter(content_type=release_type, object_id=pk)
                          .values_list("name", flat=True)) == ["cancel", "start_planning"], pk
            assert OutboxMessage.objects.filter(release_id=pk, event="cancel").exists(), pk
        # The broker was never asked: the notices wait for the relay.
        assert not OutboxMessage.objects.filter(release_id__in=made).exclude(status="pending").exists()

        # Back: once the breaker's period is over, every worker uses the cache again.
        time.sleep(max(0.0, BREAKER_SECONDS + 0.5 - (time.monotonic() - resumed_at)))
        for _ in range(6):
            assert call("GET", "/api/releases/", token=later_token)
        assert throttle_count(inspect, later_token) == 6
        created = call("POST", "/api/releases/", token=rm_token, body={**body, "title": "After the hang"},
                       expect=201)
        assert created is not None
        after = generations(inspect)
        assert all(after[name] != before[name] for name in before), (before, after)
        listed = call("GET", "/api/releases/?state=new", token=rm_token)
        assert listed.json()["count"] == Release.objects.filter(state="new").count()
        assert call.problems == [], call.problems
