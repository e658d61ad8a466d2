"""GitLab deployment approvals and deployment events (GitLab.com or
self-managed: the adapter's base URL).

A project or group hook to ``/api/gate/gitlab/<adapter>/`` with "Deployment
events" and the adapter's webhook secret as its secret token (sent as
``X-Gitlab-Token``) tells the adapter of each deployment's status:

* ``blocked``: a deployment to a protected environment that requires an
  approval is waiting. The adapter asks the gate and approves or rejects it
  (``POST /api/v4/projects/:id/deployments/:deployment_id/approval``, the
  adapter's API token, whose user is an approver of the environment), with
  the blockers as comment; while the gate says ``awaiting`` it waits.
* ``running``: the deployment starts: the release's ``start_deployment``,
  through the gate (``pipelines.services.deployment_start``: a 409 with the
  blockers when the gate does not allow it, nothing recorded).
* ``success`` / ``failed``: the deployment ended
  (``pipelines.services.deployment_finish``).

A delivery's ``Idempotency-Key`` (the same on GitLab's retries), or else its
``X-Gitlab-Event-UUID``, taken twice is a replay: refused, nothing changed.
"""
from __future__ import annotations

import hmac
import re
import urllib.parse

from django.core.exceptions import ValidationError

from releases.models import Deployment

from .. import gate, services
from ..adapter_models import AdapterCheck, AdapterDelivery, PipelineAdapter
from . import common

TOKEN_HEADER = "X-Gitlab-Token"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_UUID_HEADER = "X-Gitlab-Event-UUID"
EVENT_HEADER = "X-Gitlab-Event"
SHA = re.compile(r"[0-9a-f]{7,64}")


def token_problem(secret: str, token: str | None) -> str:
    """'' when ``token`` is the adapter's webhook secret, else why not."""
    if not secret:
        return "This adapter has no webhook secret."
    if not token:
        return f"The {TOKEN_HEADER} header is missing."
    if not hmac.compare_digest(secret.encode(), token.encode()):
        return "The token does not match."
    return ""


def _deployment(payload: dict) -> dict:
    """The fields of a deployment event the adapter reads, checked."""
    project = payload.get("project") if isinstance(payload.get("project"), dict) else {}
    found = {"status": payload.get("status"), "deployment_id": payload.get("deployment_id"),
             "environment": payload.get("environment"), "project_id": project.get("id"),
             "project": project.get("path_with_namespace")}
    for name, value in found.items():
        wanted = int if name.endswith("_id") else str
        if not isinstance(value, wanted) or isinstance(value, bool) or value in ("", 0):
            raise ValidationError({name: f"Required in a deployment event ({wanted.__name__})."})
    commit_url = str(payload.get("commit_url") or "")
    tail = commit_url.rstrip("/").rsplit("/", 1)[-1]
    found["sha"] = tail if SHA.fullmatch(tail) else str(payload.get("short_sha") or "")
    found["ref"] = str(payload.get("ref") or "")
    url = payload.get("deployable_url")
    found["run_url"] = url if isinstance(url, str) and urllib.parse.urlsplit(url).scheme in ("http", "https") else ""
    return found


def receive(adapter: PipelineAdapter, delivery: AdapterDelivery, event: str, payload: dict) -> dict:
    """Act on a verified, first-seen delivery (see the module's docstring)."""
    if payload.get("object_kind") != "deployment":
        return {"result": "ignored", "event": event}
    found = _deployment(payload)
    asked = common.question(adapter, environment=found["environment"], repository=found["project"],
                            ref=found["ref"], sha=found["sha"])
    status = found["status"]
    if status == "blocked":
        check = common.open_check(
            adapter, delivery, asked,
            reference=f"{found['project']} {found['ref'] or found['sha']} to {found['environment']} "
                      f"(deployment {found['deployment_id']})",
            target={"project_id": found["project_id"], "deployment_id": found["deployment_id"]})
        return {"result": "checking", "check": check.pk}
    if status == "running":
        return _start(adapter, asked, found)
    if status in ("success", "failed"):
        return _finish(adapter, asked, found, succeeded=status == "success")
    return {"result": "ignored", "event": event, "status": status}


def _start(adapter, asked, found) -> dict:
    if gate.not_gated(asked.environment):
        return {"result": "not gated", "environment": asked.environment}
    services.deployment_start_check(by=adapter.user)
    release = common.release_for(adapter, asked)
    if release is None:
        decision = gate.decide(None, adapter.user, environment=asked.environment, ci=asked.ci)
        raise services.GateClosed(gate.start_spec().name, decision.blockers[0].message, decision.blockers,
                                  code=decision.decision)
    deployment = services.deployment_start(release=release, by=adapter.user, environment=asked.environment,
                                           run_url=found["run_url"], commit=found["sha"])
    return {"result": "started", "deployment": deployment.pk, "release": release.number}


def _finish(adapter, asked, found, *, succeeded: bool) -> dict:
    if gate.not_gated(asked.environment):
        return {"result": "not gated", "environment": asked.environment}
    release = common.release_for(adapter, asked)
    unfinished = Deployment.objects.restrict(adapter.user).select_related("release").filter(
        release=release, outcome="", completed_at__isnull=True).order_by("-pk")
    deployment = (unfinished.filter(run_url=found["run_url"]).first() if found["run_url"] else None) \
        or unfinished.first()
    if release is None or deployment is None:
        raise ValidationError({"deployment_id": "No deployment of an open release is running for this "
                                                "configuration item and version: was its start reported?"})
    services.deployment_finish_check(deployment=deployment, by=adapter.user)
    deployment = services.deployment_finish(deployment=deployment, by=adapter.user,
                                            outcome="succeeded" if succeeded else "failed",
                                            log_url=found["run_url"])
    return {"result": "finished", "deployment": deployment.pk, "outcome": deployment.outcome,
            "release": release.number}


def approval_url(adapter: PipelineAdapter, target: dict) -> str:
    base = adapter.base_url.rstrip("/")
    return f"{base}/api/v4/projects/{int(target['project_id'])}/deployments/{int(target['deployment_id'])}/approval"


def send_answer(check: AdapterCheck) -> None:
    """Approve or reject the blocked deployment, with the comment."""
    adapter = check.adapter
    common.post_json(approval_url(adapter, check.target), {"status": check.answer, "comment": check.comment},
                     {"PRIVATE-TOKEN": adapter.api_token()})
