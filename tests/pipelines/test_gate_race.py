"""Two pipelines start the same release's deployment at once: one wins."""
from __future__ import annotations

import pytest
from django.db import connection

from releasemgmt.workflow import name_of
from releases.models import Deployment, Release, TransitionLog
from tests.helpers import race, values

from .conftest import bearer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_two_starts_racing_exactly_one_wins(walk, gate_key):
    assert connection.vendor == "postgresql"
    release = walk("backed_up").release

    def attempt(i):
        response = bearer(gate_key).post("/api/gate/deployments/", {
            "release": release.pk, "run_url": f"https://ci.example.test/run/{i}/"}, format="json")
        return response.status_code, response.json()

    outcomes = values(race(2, attempt))
    assert sorted(status for status, _ in outcomes) == [201, 409]
    _, refused = next(o for o in outcomes if o[0] == 409)
    assert refused["code"] in ("invalid_state", "prevented"), refused
    assert Release.objects.get(pk=release.pk).state == "deploying"
    assert Deployment.objects.filter(release=release).count() == 1
    assert TransitionLog.objects.filter(object_id=release.pk, content_type__model="release",
                                        name=name_of(Release.start_deployment)).count() == 1
