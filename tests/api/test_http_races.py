"""Requests racing over HTTP for one release: exactly one wins, every other
gets 409 (never a 500), and history holds exactly one transition."""
import pytest
from django.db import connection

from releases.models import Release, TransitionLog
from releases.scenario import new_release
from tests.helpers import race, token_client, values

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_ten_requests_racing_one_transition_over_http(actors):
    assert connection.vendor == "postgresql"
    release = new_release(actors)
    history_before = Release.history.filter(id=release.pk).count()
    token_client(actors.release_manager)  # the token exists before the threads start

    responses = values(race(10, lambda i: token_client(actors.release_manager).post(
        f"/api/releases/{release.pk}/transitions/start_planning/", {}, format="json")))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 9, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} <= {"invalid_state", "concurrent_transition"}
    assert Release.objects.get(pk=release.pk).state == "planning"
    assert Release.history.filter(id=release.pk).count() == history_before + 1
    assert TransitionLog.objects.filter(object_id=release.pk, content_type__model="release").count() == 1


def test_two_edits_racing_with_the_same_etag_one_wins_the_other_gets_412(actors):
    """If-Match is checked on the locked row and the lock held until the
    write commits: of two edits made from the same read, one is applied and
    the other gets 412 (no lost update)."""
    release = new_release(actors)
    client = token_client(actors.release_manager)
    etag = client.get(f"/api/releases/{release.pk}/")["ETag"]

    responses = values(race(2, lambda i: token_client(actors.release_manager).patch(
        f"/api/releases/{release.pk}/", {"description": f"edit {i}"}, format="json", headers={"If-Match": etag})))

    assert sorted(r.status_code for r in responses) == [200, 412]
    (winner,) = [r for r in responses if r.status_code == 200]
    assert Release.objects.get(pk=release.pk).description == winner.json()["description"]


def test_two_transitions_racing_with_the_same_etag(actors):
    release = new_release(actors)
    etag = token_client(actors.release_manager).get(f"/api/releases/{release.pk}/")["ETag"]

    responses = values(race(4, lambda i: token_client(actors.release_manager).post(
        f"/api/releases/{release.pk}/transitions/start_planning/", {}, format="json", headers={"If-Match": etag})))

    assert sorted(r.status_code for r in responses) == [200, 412, 412, 412]
    assert TransitionLog.objects.filter(object_id=release.pk, content_type__model="release").count() == 1
