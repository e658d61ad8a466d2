"""Fifty clients racing for the same transition, through the real server.

gunicorn with several worker processes, each with several threads, serves
the API against PostgreSQL; 50 token-authenticated clients per release POST
the same transition at once, on 10 releases together (500 requests released
by one barrier). Per release, exactly one request wins (2xx); the other 49
get 409; nobody gets a 5xx; history holds one transition and the outbox one
set of notifications.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from rest_framework.authtoken.models import Token

from releases.models import OutboxMessage, Release, TransitionLog
from releases.scenario import Walker, new_release
from releases.services import release_transition

from .live_server import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

RELEASES = 10
CLIENTS = 50
# submit_plan tells the CAB (notifications.notices.WHO_IS_TOLD), so a second
# winner would show as a second set of messages, not only a second log row.
TRANSITION = "submit_plan"


def release_ready_to_submit(actors, title):
    """A release in `planning` with a complete plan, reached through the services."""
    walker = Walker(new_release(actors, title=title), actors)
    walker.new()  # start_planning
    walker.plan()
    return walker.release


def fire_together(server, calls):
    """Send every ``(path, token)`` at once (one barrier); their (path, status, body)."""
    barrier = threading.Barrier(len(calls))
    results = []
    lock = threading.Lock()

    def client(path, token):
        try:
            barrier.wait(timeout=120)
            response = server.request("POST", path, token=token, body={})
            outcome = (path, response.status, response.body[:300])
        except Exception as exc:  # noqa: BLE001 - a client error is an outcome the test reports
            outcome = (path, "error", repr(exc))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=client, args=call, daemon=True) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return results


def test_fifty_clients_racing_one_transition_on_ten_releases_through_gunicorn(actors, make_user):
    assert connection.vendor == "postgresql"
    # One release manager, hence one token, per release: the race is between
    # clients, and per-token API throttling stays out of the picture.
    owners = [dataclasses.replace(actors, release_manager=make_user("release_manager")) for _ in range(RELEASES)]
    releases = [release_ready_to_submit(a, f"Race {i}") for i, a in enumerate(owners)]
    tokens = {r.pk: Token.objects.create(user=a.release_manager).key for r, a in zip(releases, owners)}

    # The same transition once, alone, on a control release: one "set" of
    # notifications is whatever that writes.
    control = release_ready_to_submit(actors, "Control")
    release_transition(release_id=control.pk, name=TRANSITION, by=actors.release_manager)
    one_set = sorted(OutboxMessage.objects.filter(release=control, event=TRANSITION)
                     .values_list("recipient", "channel"))
    assert one_set, "the control transition wrote no notification: pick a transition that does"

    history_before = {r.pk: Release.history.filter(id=r.pk).count() for r in releases}
    connections.close_all()  # nothing of ours holds a connection while the server works

    calls = [(f"/api/releases/{r.pk}/transitions/{TRANSITION}/", tokens[r.pk])
             for _ in range(CLIENTS) for r in releases]
    with gunicorn(connection.settings_dict, workers=4, threads=4,
                  env={"API_THROTTLE_RATE": "100000/minute"}) as server:
        results = fire_together(server, calls)
    log = server.stderr()

    by_release = {r.pk: Counter() for r in releases}
    for path, status, _ in results:
        pk = int(path.split("/")[3])
        by_release[pk]["2xx" if isinstance(status, int) and 200 <= status < 300 else status] += 1
    oddities = [(path, status, body) for path, status, body in results
                if status != 409 and not (isinstance(status, int) and 200 <= status < 300)]
    summary = {pk: dict(c) for pk, c in by_release.items()}
    context = f"\noutcomes per release: {summary}\nunexpected answers: {oddities[:10]}\ngunicorn log:\n{log}"

    assert len(results) == RELEASES * CLIENTS, context
    assert not oddities, context
    for release in releases:
        assert by_release[release.pk] == Counter({"2xx": 1, 409: CLIENTS - 1}), context
    for path, status, body in results:
        if status == 409:
            assert b'"invalid_state"' in body or b'"concurrent_transition"' in body, (path, body)

    for release in releases:
        release.refresh_from_db()
        assert release.state == "plan_submitted"
        assert Release.history.filter(id=release.pk).count() == history_before[release.pk] + 1, context
        assert Release.history.filter(id=release.pk, history_change_reason=TRANSITION).count() == 1, context
        assert TransitionLog.objects.filter(content_type__model="release", object_id=release.pk,
                                            name=TRANSITION).count() == 1, context
        sent = sorted(OutboxMessage.objects.filter(release=release, event=TRANSITION)
                      .values_list("recipient", "channel"))
        assert sent == one_set, (release.number, sent, one_set)
