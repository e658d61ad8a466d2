"""Two (or twenty) requests racing for one release: exactly one wins."""
import threading

import pytest
from django.db import connection

from releasemgmt.workflow import TransitionBlocked
from releases.models import Release, TransitionLog
from releases.scenario import new_release
from releases.services import release_transition
from tests.helpers import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_twenty_threads_racing_one_transition_exactly_one_wins(actors):
    assert connection.vendor == "postgresql"
    release = new_release(actors)
    history_before = Release.history.filter(id=release.pk).count()

    results = race(20, lambda i: release_transition(release_id=release.pk, name="start_planning",
                                                  by=actors.release_manager))

    wins = [r for r in results if r[0] == "ok"]
    losses = [r for r in results if r[0] == "error"]
    assert len(results) == 20
    assert len(wins) == 1
    assert all(isinstance(exc, TransitionBlocked) and exc.code == "invalid_state" for _, exc in losses), losses
    assert Release.objects.get(pk=release.pk).state == "planning"
    assert Release.history.filter(id=release.pk).count() == history_before + 1
    assert TransitionLog.objects.filter(object_id=release.pk, name="start_planning").count() == 1


def test_racing_different_transitions_from_one_state(actors):
    """cancel and start_planning race from `new`.

    Both orders are legal one after the other (a release in planning may
    still be cancelled), so more than one request may win. What the lock
    guarantees is that the outcome is one some serial order would give:
    the history is a chain from `new`, no transition ran twice from the same
    state, every loser was refused because of the state it found, and the
    release ends where the chain ends. Clients that mean "only from `new`"
    send If-Match (tests/api/test_http_races.py).
    """
    release = new_release(actors)
    it = iter(["cancel", "start_planning"] * 5)
    lock = threading.Lock()

    def attempt(i):
        with lock:
            name = next(it)
        return release_transition(release_id=release.pk, name=name, by=actors.release_manager, reason="race")

    results = race(10, attempt)
    wins = [r for r in results if r[0] == "ok"]
    losses = [exc for outcome, exc in results if outcome == "error"]
    assert len(results) == 10
    assert all(isinstance(exc, TransitionBlocked) and exc.code == "invalid_state" for exc in losses), losses

    logs = list(TransitionLog.objects.filter(object_id=release.pk, content_type__model="release")
                .order_by("pk").values_list("name", "source", "target"))
    assert len(logs) == len(wins)
    assert logs in (
        [("cancel", "new", "cancelled")],
        [("start_planning", "new", "planning")],
        [("start_planning", "new", "planning"), ("cancel", "planning", "cancelled")],
    ), logs
    assert Release.objects.get(pk=release.pk).state == logs[-1][2]
