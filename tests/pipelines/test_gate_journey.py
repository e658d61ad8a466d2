"""A pipeline's side of a deployment, over HTTP with its gate token: it polls
the gate (awaiting, then allowed), starts the deployment, reports its
success, and the release is deployed with the pipeline's run in its history;
the same with a freeze (prevented, the freeze named) and with a failure
(rollback advice asked for).

Set ``GATE_DOCS_DUMP=/some/file.json`` to write every exchange to a file:
docs/api.md ("Deployment gate") quotes them.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from releasemgmt.workflow import name_of
from releases.models import FreezeWindow, OutboxMessage, Release
from tests.helpers import logs_of

from .test_deployments import close_deployment_tasks

pytestmark = pytest.mark.django_db

EXCHANGES: list[dict] = []
RUN = "https://jenkins.example.test/job/checkout/128/"
COMMIT = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"


@pytest.fixture(scope="module", autouse=True)
def _dump():
    yield
    path = os.environ.get("GATE_DOCS_DUMP")
    if path:
        with open(path, "w") as f:
            json.dump(EXCHANGES, f, indent=2, default=str)


def call(client, method, path, expected, body=None, label=""):
    if method == "get":
        response = client.get(path)
    else:
        response = client.post(path, body or {}, format="json")
    EXCHANGES.append({"label": label, "method": method.upper(), "path": path, "body": body,
                      "status": response.status_code, "response": response.json()})
    assert response.status_code == expected, response.content[:500]
    return response.json()


def test_the_pipeline_waits_for_the_backup_deploys_and_reports_success(walk, gate_client, actors, pipeline):
    walker = walk("go")
    release = walker.release
    item = release.scope_items.select_related("ci").first()
    gate = f"/api/gate/?ci={item.ci.name}&version={item.target_version}&environment=production"

    assert call(gate_client, "get", gate, 200, label="awaiting")["decision"] == "awaiting"
    walker.go_()  # the release manager records the verified backup (step 11)
    assert call(gate_client, "get", gate, 200, label="allowed")["decision"] == "allowed"
    deployment = call(gate_client, "post", "/api/gate/deployments/", 201, label="start", body={
        "ci": item.ci.name, "version": item.target_version, "environment": "production", "run_url": RUN,
        "commit": COMMIT})
    close_deployment_tasks(release, actors.deployment_team)
    done = call(gate_client, "post", f"/api/gate/deployments/{deployment['id']}/finish/", 200, label="succeeded",
                body={"outcome": "succeeded", "log_url": RUN + "console"})
    assert done["release"]["state"] == "deployed"
    assert Release.objects.get(pk=release.pk).state == "deployed"
    steps = list(logs_of(release).order_by("at", "pk").values_list("name", "by__username", "payload__run_url"))
    assert steps[-2:] == [(name_of(Release.start_deployment), "jenkins", RUN),
                          (name_of(Release.complete_deployment), "jenkins", None)]


def test_a_freeze_prevents_the_deployment_and_the_pipeline_stops(walk, gate_client):
    release = walk("backed_up").release
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    FreezeWindow.objects.create(name="Year-end freeze", start=now - timedelta(hours=2), end=now + timedelta(days=3))
    answer = call(gate_client, "get", f"/api/gate/?release={release.number}", 200, label="prevented")
    assert answer["decision"] == "prevented" and answer["blockers"][0]["code"] == "freeze_window"
    refused = call(gate_client, "post", "/api/gate/deployments/", 409, label="start refused",
                   body={"release": release.number, "run_url": RUN, "commit": COMMIT})
    assert refused["blockers"] == answer["blockers"]
    assert Release.objects.get(pk=release.pk).state == "backed_up"


def test_a_failed_deployment_asks_for_rollback_advice(walk, gate_client):
    release = walk("backed_up").release
    deployment = call(gate_client, "post", "/api/gate/deployments/", 201,
                      body={"release": release.pk, "run_url": RUN, "commit": COMMIT})
    failed = call(gate_client, "post", f"/api/gate/deployments/{deployment['id']}/finish/", 200, label="failed",
                  body={"outcome": "failed", "log_url": RUN + "console"})
    assert (failed["outcome"], failed["release"]["state"]) == ("failed", "deploying")
    assert OutboxMessage.objects.filter(release=release, subject__contains="rollback").exists()
