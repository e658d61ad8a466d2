"""The planned window and a release's RFCs are the model's and the service's
rules: the service itself refuses a window that ends before it starts (and
a release without an RFC), and the API and the UI answer 400 in the same
words, because they come from the same place."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from releases import services as s
from releases.models import Release, Task
from releases.scenario import authorised_rfc, new_release

pytestmark = pytest.mark.django_db

RELEASE_WINDOW = "The planned end must be after the planned start."
TASK_WINDOW = "The planned end must not be before the planned start."
NO_RFC = "A release must be tagged to at least one RFC."


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def local(dt) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def window():
    start = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    return start, start - timedelta(hours=2)


def test_the_service_refuses_a_release_ending_before_it_starts(actors, window):
    rfc = authorised_rfc(actors, "Faster checkout")
    with pytest.raises(ValidationError) as refused:
        s.release_create(by=actors.release_manager, title="Backwards", release_type="minor", rfcs=[rfc],
                         planned_start=window[0], planned_end=window[1])
    assert refused.value.message_dict == {"planned_end": [RELEASE_WINDOW]}
    with pytest.raises(ValidationError) as refused:
        s.release_create(by=actors.release_manager, title="No time", release_type="minor", rfcs=[rfc],
                         planned_start=window[0], planned_end=window[0])
    assert refused.value.message_dict == {"planned_end": [RELEASE_WINDOW]}
    assert not Release.objects.exists()


def test_the_service_refuses_moving_a_release_end_before_its_start(actors, window):
    release = new_release(actors)
    before = (release.planned_start, release.planned_end)
    with pytest.raises(ValidationError) as refused:
        s.release_update(release_id=release.pk, by=actors.release_manager, planned_end=release.planned_start)
    assert refused.value.message_dict == {"planned_end": [RELEASE_WINDOW]}
    release.refresh_from_db()
    assert (release.planned_start, release.planned_end) == before


def test_the_service_refuses_a_task_ending_before_it_starts(actors, window):
    release = new_release(actors)
    with pytest.raises(ValidationError) as refused:
        s.task_create(release_id=release.pk, by=actors.release_manager, title="Backwards",
                      planned_start=window[0], planned_end=window[1])
    assert refused.value.message_dict == {"planned_end": [TASK_WINDOW]}
    task = s.task_create(release_id=release.pk, by=actors.release_manager, title="Go-live call",
                         planned_start=window[0], planned_end=window[0])  # a moment is a window
    with pytest.raises(ValidationError) as refused:
        s.task_update(task_id=task.pk, by=actors.release_manager, planned_end=window[1])
    assert refused.value.message_dict == {"planned_end": [TASK_WINDOW]}
    assert Task.objects.get(pk=task.pk).planned_end == window[0]


def test_the_database_holds_the_same_rule(actors):
    release = new_release(actors)
    with pytest.raises(IntegrityError), transaction.atomic():
        Release.objects.filter(pk=release.pk).update(planned_end=release.planned_start)
    task = s.task_create(release_id=release.pk, by=actors.release_manager, title="Deploy",
                         planned_start=release.planned_start, planned_end=release.planned_end)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(planned_end=release.planned_start - timedelta(seconds=1))


def test_the_api_answers_400_in_the_models_words(actors, window):
    rfc = authorised_rfc(actors, "Faster checkout")
    client = api(actors.release_manager)
    body = {"title": "Backwards", "release_type": "minor", "rfcs": [rfc.pk],
            "planned_start": iso(window[0]), "planned_end": iso(window[1])}
    response = client.post("/api/releases/", body, format="json")
    assert response.status_code == 400 and response.json()["planned_end"] == [RELEASE_WINDOW]
    response = client.post("/api/releases/", {**body, "planned_end": iso(window[0] + timedelta(days=1)), "rfcs": []},
                           format="json")
    assert response.status_code == 400 and response.json()["rfcs"] == [NO_RFC]
    assert not Release.objects.exists()

    release = new_release(actors)
    response = client.patch(f"/api/releases/{release.pk}/", {"planned_end": iso(release.planned_start)},
                            format="json")
    assert response.status_code == 400 and response.json()["planned_end"] == [RELEASE_WINDOW]
    response = client.patch(f"/api/releases/{release.pk}/", {"rfcs": []}, format="json")
    assert response.status_code == 400 and response.json()["rfcs"] == [NO_RFC]
    response = client.post("/api/tasks/", {"release": release.pk, "title": "Backwards",
                                           "planned_start": iso(window[0]), "planned_end": iso(window[1])},
                           format="json")
    assert response.status_code == 400 and response.json()["planned_end"] == [TASK_WINDOW]
    assert not release.tasks.exists()


def test_the_ui_answers_400_in_the_models_words(actors, window):
    rfc = authorised_rfc(actors, "Faster checkout")
    client = browser(actors.release_manager)
    response = client.post(reverse("releases:create"), {
        "title": "Backwards", "release_type": "minor", "rfcs": [rfc.pk],
        "planned_start": local(window[0]), "planned_end": local(window[1])})
    assert response.status_code == 400 and RELEASE_WINDOW in response.content.decode()
    assert not Release.objects.exists()

    release = new_release(actors)
    response = client.post(reverse("releases:edit", args=[release.pk]), {
        "title": release.title, "release_type": release.release_type, "rfcs": [r.pk for r in release.rfcs.all()],
        "planned_start": local(window[0]), "planned_end": local(window[1])})
    assert response.status_code == 400 and RELEASE_WINDOW in response.content.decode()
    response = client.post(reverse("releases:task_add", args=[release.pk]), {
        "task-title": "Backwards", "task-step": 12,
        "task-planned_start": local(window[0]), "task-planned_end": local(window[1])})
    assert response.status_code == 400 and TASK_WINDOW in response.content.decode()
    assert not release.tasks.exists()
