"""POST /api/gate/deployments/ and .../finish/: the pipeline starts and ends
the deployment through the release's own transitions, so it is in the
history, the audit export and the metrics like any other step."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.export import COLUMNS, evidence_rows
from releasemgmt.workflow import available, name_of
from releases import services as s
from releases.models import Deployment, OutboxMessage, RefusedAttempt, Release, Task, TransitionLog
from tests.helpers import logs_of, token_client

pytestmark = pytest.mark.django_db

RUN = "https://ci.example.test/job/orders-api/412/"
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
START = name_of(Release.start_deployment)


def start(client, release, **body):
    return client.post("/api/gate/deployments/", {"release": release.number, "run_url": RUN, "commit": COMMIT,
                                                  **body}, format="json")


def finish(client, deployment_id, **body):
    return client.post(f"/api/gate/deployments/{deployment_id}/finish/", body, format="json")


def export_rows(release):
    now = timezone.now()
    rows = [dict(zip(COLUMNS, row)) for row in evidence_rows(now - timedelta(days=2), now + timedelta(days=1))]
    return [r for r in rows if r["release_number"] == release.number]


def close_deployment_tasks(release, by):
    for task in release.tasks.filter(step=12, state="open"):
        s.task_transition(task_id=task.pk, name=name_of(Task.start), by=by)
        s.task_transition(task_id=task.pk, name=name_of(Task.complete), by=by)


def test_the_pipeline_starts_the_deployment_through_its_transition(walk, gate_client, pipeline):
    release = walk("backed_up").release
    response = start(gate_client, release)
    assert response.status_code == 201, response.content
    body = response.json()
    deployment = Deployment.objects.get()
    assert body["id"] == deployment.pk
    assert body["release"] == {"id": release.pk, "number": release.number, "state": "deploying"}
    assert (body["run_url"], body["commit"], body["environment"], body["outcome"]) == (RUN, COMMIT, "production", "")
    assert (deployment.run_url, deployment.commit, deployment.created_by) == (RUN, COMMIT, pipeline)

    # The history: the step in the transition log, under the pipeline's account, with its run.
    log = logs_of(release).latest("at")
    assert (log.name, log.source, log.target, log.by) == (START, "backed_up", "deploying", pipeline)
    assert log.payload["run_url"] == RUN and log.payload["commit"] == COMMIT
    assert Release.history.filter(id=release.pk).latest("history_date").history_user == pipeline
    # The audit export: the transition and the deployment, with the run and commit.
    rows = export_rows(release)
    assert any(r["evidence_type"] == "transition" and r["action"] == START and r["actor"] == "jenkins"
               for r in rows)
    started = next(r for r in rows if r["evidence_type"] == "deployment" and r["outcome"] == "started")
    assert started["actor"] == "jenkins"
    assert f"run: {RUN}" in started["detail"] and f"commit: {COMMIT}" in started["detail"]
    # Told like any start of a deployment.
    assert OutboxMessage.objects.filter(event=START, release=release).exists()


def test_a_start_the_gate_does_not_allow_is_a_409_and_changes_nothing(walk, gate_client):
    release = walk("go").release
    logs, history = TransitionLog.objects.count(), Release.history.count()
    response = start(gate_client, release)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "awaiting"
    assert [b["code"] for b in body["blockers"]] == [f"awaiting_{name_of(Release.record_backup)}", "backup_missing"]
    assert Release.objects.get(pk=release.pk).state == "go"
    assert not Deployment.objects.exists()
    assert (TransitionLog.objects.count(), Release.history.count()) == (logs, history)


def test_a_prevented_start_names_the_freeze(walk, gate_client):
    from releases.models import FreezeWindow

    release = walk("backed_up").release
    now = timezone.now()
    FreezeWindow.objects.create(name="Black Friday", start=now - timedelta(hours=1), end=now + timedelta(days=3))
    response = start(gate_client, release)
    assert response.status_code == 409
    assert response.json()["code"] == "prevented"
    assert [b["code"] for b in response.json()["blockers"]] == ["freeze_window"]
    assert Release.objects.get(pk=release.pk).state == "backed_up"


def test_no_open_release_for_the_ci_and_version_is_a_409(walk, gate_client, cis):
    walk("backed_up")
    response = gate_client.post("/api/gate/deployments/", {"ci": cis[0].name, "version": "99.0", "run_url": RUN},
                                format="json")
    assert response.status_code == 409
    assert [b["code"] for b in response.json()["blockers"]] == ["no_open_release"]
    assert not Deployment.objects.exists()


def test_a_user_whose_role_may_not_deploy_is_refused_and_the_refusal_kept(walk, make_user):
    release = walk("backed_up").release
    onlooker = make_user("stakeholder")
    response = start(token_client(onlooker), release)
    assert response.status_code == 403
    row = RefusedAttempt.objects.get()
    assert (row.by, row.action, row.entry_point) == (onlooker, START, "api")
    assert Release.objects.get(pk=release.pk).state == "backed_up"
    # Whatever it sends: the role is asked before the body is read.
    assert token_client(onlooker).post("/api/gate/deployments/", {}, format="json").status_code == 403
    assert RefusedAttempt.objects.count() == 2


def test_the_service_asks_the_role_again_on_the_release(walk, make_user):
    from pipelines.services import deployment_start
    from releasemgmt.workflow import TransitionForbidden

    release = walk("backed_up").release
    onlooker = make_user("stakeholder")
    with pytest.raises(TransitionForbidden):
        deployment_start(release=release, by=onlooker, environment="production", run_url=RUN)
    assert RefusedAttempt.objects.get().subject == release


def test_a_deployment_to_an_ungated_environment_records_nothing(walk, gate_client):
    release = walk("go").release
    response = start(gate_client, release, environment="staging")
    assert response.status_code == 200
    assert response.json()["decision"] == "allowed" and response.json()["gated"] is False
    assert not Deployment.objects.exists()
    assert Release.objects.get(pk=release.pk).state == "go"


def test_success_completes_the_deployment(walk, gate_client, pipeline, actors):
    release = walk("backed_up").release
    deployment_id = start(gate_client, release).json()["id"]
    close_deployment_tasks(release, actors.deployment_team)
    response = finish(gate_client, deployment_id, outcome="succeeded", log_url=RUN + "console")
    assert response.status_code == 200, response.content
    assert response.json()["release"]["state"] == "deployed"
    deployment = Deployment.objects.get()
    assert (deployment.outcome, deployment.log_url) == ("succeeded", RUN + "console")
    assert deployment.completed_at is not None
    log = logs_of(release).latest("at")
    assert (log.name, log.by) == (name_of(Release.complete_deployment), pipeline)
    completed = next(r for r in export_rows(release) if r["evidence_type"] == "deployment"
                     and r["outcome"] == "completed")
    assert completed["actor"] == "jenkins"
    # The metrics count it like any deployment.
    metrics = token_client(actors.release_manager).get("/api/metrics/").json()
    assert metrics["deployment_frequency"]["deployed"] == 1


def test_success_with_a_deployment_task_open_is_a_409_and_changes_nothing(walk, gate_client):
    release = walk("backed_up").release
    deployment_id = start(gate_client, release).json()["id"]
    response = finish(gate_client, deployment_id, outcome="succeeded")
    assert response.status_code == 409
    assert [b["code"] for b in response.json()["blockers"]] == ["deployment_tasks_open"]
    assert Release.objects.get(pk=release.pk).state == "deploying"
    assert Deployment.objects.get().outcome == ""


def test_failure_blocks_completion_and_asks_for_rollback_advice(walk, gate_client, pipeline, actors):
    release = walk("backed_up").release
    deployment_id = start(gate_client, release).json()["id"]
    close_deployment_tasks(release, actors.deployment_team)
    response = finish(gate_client, deployment_id, outcome="failed", log_url=RUN + "console")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["outcome"], body["release"]["state"]) == ("failed", "deploying")
    assert body["failed_at"] is not None

    # It is never completed, so the release does not reach its health check...
    rows = {row["name"]: row for row in available(Release.objects.get(pk=release.pk), actors.release_manager)}
    assert [b["code"] for b in rows[name_of(Release.complete_deployment)]["blockers"]] == ["deployment_failed"]
    again = finish(gate_client, deployment_id, outcome="succeeded")
    assert again.status_code == 409
    # ... the rollback waits for advice, and the advisers are asked for it.
    assert [b["code"] for b in rows[name_of(Release.rollback)]["blockers"]] == ["rollback_not_advised"]
    asked = set(OutboxMessage.objects.filter(event=s.DEPLOYMENT_FAILED, release=release)
                .values_list("recipient", flat=True))
    assert {actors.delivery_manager.email, actors.change_manager.email, actors.release_manager.email} <= asked
    # The failure is evidence, with who reported it.
    failed = next(r for r in export_rows(release) if r["evidence_type"] == "deployment" and r["outcome"] == "failed")
    assert failed["actor"] == "jenkins" and RUN + "console" in failed["detail"]
    # On the advice, the release manager rolls back from the failed deployment.
    s.record_add(release_id=release.pk, record_type="rollback_advice", by=actors.delivery_manager,
                 advice="The pipeline failed mid-rollout; restore the baseline.")
    from tests.signatures import signature

    rolled = s.release_transition(release_id=release.pk, name=name_of(Release.rollback), by=actors.release_manager,
                                  signature=signature())
    assert rolled.state == "rolling_back"


def test_a_failure_is_reported_once(walk, gate_client):
    release = walk("backed_up").release
    deployment_id = start(gate_client, release).json()["id"]
    assert finish(gate_client, deployment_id, outcome="failed").status_code == 200
    response = finish(gate_client, deployment_id, outcome="failed")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_finishing_as_a_user_who_may_not_is_refused_and_kept(walk, gate_client, make_user):
    release = walk("backed_up").release
    deployment_id = start(gate_client, release).json()["id"]
    onlooker = make_user("stakeholder")
    response = finish(token_client(onlooker), deployment_id, outcome="failed")
    assert response.status_code == 403
    assert RefusedAttempt.objects.get().by == onlooker
    assert Deployment.objects.get().outcome == ""


@pytest.mark.parametrize("path_id", ["999999", "abc", "99999999999999999999999", "0"])
def test_finishing_a_deployment_that_is_not_there_is_a_404(gate_client, path_id):
    assert finish(gate_client, path_id, outcome="succeeded").status_code == 404


@pytest.mark.parametrize("body, field", [({}, "outcome"), ({"outcome": "maybe"}, "outcome"),
                                         ({"outcome": "failed", "log_url": "not a url"}, "log_url")])
def test_a_bad_report_is_a_400_and_changes_nothing(walk, gate_client, body, field):
    release = walk("backed_up").release
    deployment_id = start(gate_client, release).json()["id"]
    response = finish(gate_client, deployment_id, **body)
    assert response.status_code == 400
    assert field in response.json()
    assert Deployment.objects.get().outcome == ""


def test_a_start_without_its_run_is_a_400(walk, gate_client):
    release = walk("backed_up").release
    response = gate_client.post("/api/gate/deployments/", {"release": release.pk}, format="json")
    assert response.status_code == 400 and "run_url" in response.json()
    assert Release.objects.get(pk=release.pk).state == "backed_up"
