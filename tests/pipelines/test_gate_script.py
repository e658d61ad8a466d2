"""docs/pipelines.md's gate.sh, run as written against the app (a live server):
it waits for the gate, starts the deployment, runs the deploy command and
reports its outcome; a prevented release stops it before the deploy."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from releases.models import Deployment, FreezeWindow, Release
from tests.helpers import unavailable

from .test_deployments import close_deployment_tasks

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"
RUN = "https://ci.example.test/job/checkout/7/"


def script() -> str:
    text = DOCS.read_text()
    block = re.search(r"<!-- gate.sh begins -->\n```sh\n(.*?)```\n<!-- gate.sh ends -->", text, re.S)
    assert block, "docs/pipelines.md holds gate.sh between its markers"
    return block.group(1)


def run(live_server, key, item, *command, **env):
    if not (shutil.which("curl") and shutil.which("jq")):
        unavailable("gate.sh needs curl and jq")
    environ = {**os.environ, "GATE_URL": f"{live_server.url}/api/gate", "GATE_TOKEN": key,
               "CI_NAME": item.ci.name, "VERSION": item.target_version, "RUN_URL": RUN, "COMMIT": "4f2a9c1",
               "POLL_SECONDS": "1", "MAX_WAIT_SECONDS": "3", **env}
    return subprocess.run(["sh", "-c", script(), "gate.sh", *command], env=environ, capture_output=True, text=True,
                          timeout=60)


def test_the_script_deploys_through_the_gate(live_server, walk, gate_key, actors, tmp_path):
    release = walk("backed_up").release
    item = release.scope_items.select_related("ci").first()
    # The deploy command: the deployment team's tasks are done while it runs.
    marker = tmp_path / "deployed"
    close_deployment_tasks(release, actors.deployment_team)
    result = run(live_server, gate_key, item, "touch", str(marker))
    assert result.returncode == 0, result.stdout + result.stderr
    assert marker.exists()
    assert "gate: allowed" in result.stdout
    assert f"{release.number} is deployed" in result.stdout
    deployment = Deployment.objects.get(release=release)
    assert (deployment.run_url, deployment.commit, deployment.outcome) == (RUN, "4f2a9c1", "succeeded")


def test_a_failing_deploy_is_reported_failed(live_server, walk, gate_key):
    release = walk("backed_up").release
    item = release.scope_items.select_related("ci").first()
    result = run(live_server, gate_key, item, "false")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed" in result.stdout
    assert Deployment.objects.get(release=release).outcome == "failed"


def test_a_prevented_release_stops_before_the_deploy(live_server, walk, gate_key, tmp_path):
    release = walk("backed_up").release
    now = timezone.now()
    FreezeWindow.objects.create(name="Year-end freeze", start=now - timedelta(hours=1),
                                end=now + timedelta(days=2))
    item = release.scope_items.select_related("ci").first()
    marker = tmp_path / "deployed"
    result = run(live_server, gate_key, item, "touch", str(marker))
    assert result.returncode == 1
    assert "gate: prevented" in result.stdout and "freeze_window: Freeze window 'Year-end freeze'" in result.stdout
    assert not marker.exists()
    assert Release.objects.get(pk=release.pk).state == "backed_up"


def test_the_script_gives_up_after_waiting(live_server, walk, gate_key):
    release = walk("go").release
    item = release.scope_items.select_related("ci").first()
    result = run(live_server, gate_key, item, "true")
    assert result.returncode == 1
    assert "gate: awaiting" in result.stdout and "still awaiting" in result.stderr
    assert not Deployment.objects.exists()
