"""GitHub custom deployment protection rules.

A GitHub App whose webhook is ``/api/gate/github/<adapter>/`` and which is
enabled as a protection rule on an environment receives, when a workflow job
deploys there, a ``deployment_protection_rule`` event (``action:
requested``) with the environment, the deployment (ref, sha, payload), the
repository and a ``deployment_callback_url``. The adapter checks the
signature (``X-Hub-Signature-256``: ``sha256=`` and the hex HMAC-SHA256 of
the body under the webhook secret), refuses a delivery id seen before, and
answers through the callback URL with ``approved`` or ``rejected`` and the
gate's blockers as comment, as the App (its installation token, the
adapter's API token). While the gate says ``awaiting`` the job waits.
"""
from __future__ import annotations

import hashlib
import hmac

from django.core.exceptions import ValidationError

from ..adapter_models import AdapterCheck, AdapterDelivery, PipelineAdapter
from . import common

SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-GitHub-Delivery"
EVENT_HEADER = "X-GitHub-Event"
PROTECTION_RULE = "deployment_protection_rule"
API_VERSION = "2022-11-28"


def signature_problem(secret: str, body: bytes, signature: str | None) -> str:
    """'' when ``signature`` is GitHub's for ``body`` under ``secret``, else why not."""
    if not secret:
        return "This adapter has no webhook secret."
    if not signature:
        return f"The {SIGNATURE_HEADER} header is missing."
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return "The signature does not match."
    return ""


def _text(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: "Required, a non-empty string."})
    return value.strip()


def receive(adapter: PipelineAdapter, delivery: AdapterDelivery, event: str, payload: dict) -> dict:
    """Act on a verified, first-seen delivery: a protection rule request opens
    a check; ``ping`` and other events are taken and ignored."""
    if event != PROTECTION_RULE or payload.get("action") != "requested":
        return {"result": "ignored", "event": event}
    environment = _text(payload.get("environment"), "environment")
    callback = _text(payload.get("deployment_callback_url"), "deployment_callback_url")
    if not common.under(callback, adapter.base_url):
        raise ValidationError({"deployment_callback_url": f"Not under this adapter's GitHub API ({adapter.base_url})."})
    repository = _text((payload.get("repository") or {}).get("full_name"), "repository.full_name")
    deployment = payload.get("deployment") if isinstance(payload.get("deployment"), dict) else {}
    ref = deployment.get("ref") or payload.get("ref") or ""
    sha = deployment.get("sha") or payload.get("sha") or ""
    named = deployment.get("payload") if isinstance(deployment.get("payload"), dict) else {}
    asked = common.question(adapter, environment=environment, repository=repository, ref=str(ref), sha=str(sha),
                            release_ref=str(named.get("release") or ""))
    reference = f"{repository} {ref or sha} to {environment}"
    if deployment.get("id"):
        reference += f" (deployment {deployment['id']})"
    check = common.open_check(adapter, delivery, asked, reference=reference,
                              target={"callback_url": callback, "environment_name": environment})
    return {"result": "checking", "check": check.pk}


def send_answer(check: AdapterCheck) -> None:
    """Review the protection rule: ``POST deployment_callback_url`` with the
    environment, ``approved`` or ``rejected`` and the comment."""
    adapter = check.adapter
    url = check.target["callback_url"]
    if not common.under(url, adapter.base_url):  # the base URL changed since
        raise common.SendFailed(f"{url} is not under {adapter.base_url}", permanent=True)
    common.post_json(url, {"environment_name": check.target["environment_name"], "state": check.answer,
                           "comment": check.comment},
                     {"Authorization": f"Bearer {adapter.api_token()}", "Accept": "application/vnd.github+json",
                      "X-GitHub-Api-Version": API_VERSION})
