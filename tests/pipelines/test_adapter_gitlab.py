"""The GitLab adapter against a local fake of GitLab's API (a self-managed
instance at its own base URL): the hook's secret token checked, replays
refused, a blocked deployment approved or rejected through the approvals API
with the blockers as comment, and the deployment's start and end reported to
the release through the gate's own services."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pipelines.adapter_models import AdapterCheck, AdapterDelivery
from pipelines.tasks import answer_adapter_checks
from releasemgmt.workflow import name_of
from releases.models import Deployment, FreezeWindow, Release, TransitionLog
from tests.helpers import logs_of

from .adapter_kit import API_TOKEN, gitlab_post, make_adapter
from .test_deployments import close_deployment_tasks

pytestmark = pytest.mark.django_db

JOB = "https://gitlab.example.test/acme/orders-api/-/jobs/812"
SHA = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"


@pytest.fixture
def adapter(platform, pipeline, adapter_world):
    # Self-managed GitLab under a path; its environment "prod" is the gate's "production".
    return make_adapter("gitlab", pipeline, platform.url + "/gitlab", environments={"prod": "production"})


def event(release, status, *, environment="prod"):
    item = release.scope_items.select_related("ci").get(ci__name="orders-api")
    return {"object_kind": "deployment", "status": status, "deployment_id": 42, "deployable_id": 812,
            "deployable_url": JOB, "environment": environment,
            "project": {"id": 7, "name": "orders-api", "path_with_namespace": "acme/orders-api"},
            "ref": f"v{item.target_version}", "short_sha": SHA[:8],
            "commit_url": f"https://gitlab.example.test/acme/orders-api/-/commit/{SHA}"}


@pytest.mark.parametrize("token", ["", "not-the-secret"])
def test_a_missing_or_wrong_token_is_a_401_and_changes_nothing(backed_up, adapter, platform, token):
    response = gitlab_post(adapter, event(backed_up, "running"), token=token)
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert not AdapterDelivery.objects.exists() and not Deployment.objects.exists()
    assert Release.objects.get(pk=backed_up.pk).state == "backed_up"


def test_a_prevented_deployment_is_rejected_with_the_blockers(backed_up, adapter, platform):
    now = timezone.now()
    FreezeWindow.objects.create(name="Year-end freeze", start=now - timedelta(hours=1), end=now + timedelta(days=2))
    assert gitlab_post(adapter, event(backed_up, "blocked")).status_code == 202
    assert answer_adapter_checks() == 1
    [sent] = platform.requests
    assert sent["path"] == "/gitlab/api/v4/projects/7/deployments/42/approval"
    assert sent["headers"]["Private-Token"] == API_TOKEN
    assert sent["json"]["status"] == "rejected"
    assert "- freeze_window: Freeze window 'Year-end freeze'" in sent["json"]["comment"]


def test_awaiting_then_approved(at_go, adapter, platform):
    gitlab_post(adapter, event(at_go.release, "blocked"))
    assert answer_adapter_checks() == 0 and AdapterCheck.objects.get().state == "waiting"
    at_go.go_()  # the backup is recorded
    AdapterCheck.objects.update(next_attempt_at=timezone.now())
    assert answer_adapter_checks() == 1
    assert platform.requests[0]["json"]["status"] == "approved"


def test_the_deployment_is_reported_through_the_release_transitions(backed_up, adapter, pipeline, adapter_world):
    started = gitlab_post(adapter, event(backed_up, "running"))
    assert started.status_code == 200, started.content
    deployment = Deployment.objects.get()
    assert (deployment.run_url, deployment.commit, deployment.environment) == (JOB, SHA, "production")
    close_deployment_tasks(backed_up, adapter_world["actors"].deployment_team)
    finished = gitlab_post(adapter, event(backed_up, "success"))
    assert finished.json() == {"result": "finished", "deployment": deployment.pk, "outcome": "succeeded",
                               "release": backed_up.number}
    assert Release.objects.get(pk=backed_up.pk).state == "deployed"
    steps = list(logs_of(backed_up).order_by("at", "pk").values_list("name", "by", "payload__run_url"))
    assert steps[-2:] == [(name_of(Release.start_deployment), pipeline.pk, JOB),
                          (name_of(Release.complete_deployment), pipeline.pk, None)]


def test_a_failed_deployment_is_recorded_failed(backed_up, adapter):
    gitlab_post(adapter, event(backed_up, "running"))
    assert gitlab_post(adapter, event(backed_up, "failed")).json()["outcome"] == "failed"
    assert Deployment.objects.get().outcome == "failed"


def test_a_start_the_gate_does_not_allow_is_a_409_and_changes_nothing(at_go, adapter):
    logs = TransitionLog.objects.count()
    response = gitlab_post(adapter, event(at_go.release, "running"))
    assert response.status_code == 409 and response.json()["code"] == "awaiting"
    assert TransitionLog.objects.count() == logs and not Deployment.objects.exists()
    assert not AdapterDelivery.objects.exists()  # rolled back with it: GitLab may send it again


def test_a_replayed_delivery_is_refused_and_changes_nothing(backed_up, adapter):
    assert gitlab_post(adapter, event(backed_up, "running"), key="evt-1").status_code == 200
    replay = gitlab_post(adapter, event(backed_up, "failed"), key="evt-1")
    assert replay.status_code == 409 and replay.json()["code"] == "replayed"
    assert Deployment.objects.get().outcome == ""


def test_an_incomplete_event_is_a_400(backed_up, adapter):
    payload = event(backed_up, "blocked")
    del payload["deployment_id"]
    response = gitlab_post(adapter, payload)
    assert response.status_code == 400 and "deployment_id" in response.json()
    assert not AdapterDelivery.objects.exists()
