"""The GitHub adapter (custom deployment protection rules) against a local
fake of GitHub's callback API: signed deliveries only, replays refused,
``approved`` when the gate allows, ``rejected`` with the blockers when it
prevents, and a wait while it says ``awaiting``."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pipelines.adapter_models import AdapterCheck, AdapterDelivery
from pipelines.tasks import answer_adapter_checks
from releases.models import FreezeWindow, Release

from .adapter_kit import API_TOKEN, github_post, make_adapter

pytestmark = pytest.mark.django_db

CALLBACK = "/repos/acme/orders-api/actions/runs/4711/deployment_protection_rule"


@pytest.fixture
def adapter(platform, pipeline, adapter_world):
    return make_adapter("github", pipeline, platform.url)


def event(platform, release, *, environment="production", ref=None, **extra):
    item = release.scope_items.select_related("ci").get(ci__name="orders-api")
    return {"action": "requested", "environment": environment, "event": "deployment",
            "deployment_callback_url": platform.url + CALLBACK,
            "deployment": {"id": 99, "ref": ref or f"v{item.target_version}", "sha": "4f2a9c1", "payload": {}},
            "repository": {"full_name": "acme/orders-api", "name": "orders-api"}, "installation": {"id": 5},
            **extra}


def nothing_changed(platform):
    assert not AdapterDelivery.objects.exists() and not AdapterCheck.objects.exists()
    assert platform.requests == []


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc"])
def test_a_missing_or_wrong_signature_is_a_401_and_changes_nothing(backed_up, adapter, platform, signature):
    response = github_post(adapter, event(platform, backed_up), signature=signature)
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    nothing_changed(platform)


def test_a_body_signed_with_another_secret_is_refused(backed_up, adapter, platform):
    assert github_post(adapter, event(platform, backed_up), secret="guess").status_code == 401
    nothing_changed(platform)


def test_an_allowed_deployment_is_approved_through_the_callback_in_process(
        backed_up, adapter, platform, django_capture_on_commit_callbacks):
    release = backed_up
    with django_capture_on_commit_callbacks(execute=True):
        response = github_post(adapter, event(platform, release))
    assert response.status_code == 202, response.content
    [sent] = platform.requests
    assert sent["path"] == CALLBACK
    assert sent["headers"]["Authorization"] == f"Bearer {API_TOKEN}"
    assert sent["json"]["environment_name"] == "production" and sent["json"]["state"] == "approved"
    assert release.number in sent["json"]["comment"]
    check = AdapterCheck.objects.get()
    assert (check.state, check.decision, check.answer, check.release) == ("answered", "allowed", "approved", release)
    assert Release.objects.get(pk=release.pk).state == "backed_up"  # the job deploys; the gate only answered


def test_a_replayed_delivery_is_refused_and_changes_nothing(backed_up, adapter, platform):
    payload = event(platform, backed_up)
    assert github_post(adapter, payload, delivery="72d3162e-cc78").status_code == 202
    assert answer_adapter_checks() == 1
    replay = github_post(adapter, payload, delivery="72d3162e-cc78")
    assert replay.status_code == 409 and replay.json()["code"] == "replayed"
    assert answer_adapter_checks() == 0
    assert AdapterCheck.objects.count() == 1 and len(platform.requests) == 1


def test_awaiting_waits_then_approves_once_the_backup_is_recorded(at_go, adapter, platform):
    walker = at_go
    assert github_post(adapter, event(platform, walker.release)).status_code == 202
    assert answer_adapter_checks() == 0
    check = AdapterCheck.objects.get()
    assert (check.state, check.decision) == ("waiting", "awaiting") and platform.requests == []
    assert check.next_attempt_at > timezone.now()  # asked again at the next poll, not before

    walker.go_()  # the release manager records the backup
    AdapterCheck.objects.update(next_attempt_at=timezone.now())  # the poll comes round
    assert answer_adapter_checks() == 1
    [sent] = platform.requests
    assert sent["json"]["state"] == "approved"


def test_prevented_is_rejected_with_the_blockers_as_comment(backed_up, adapter, platform):
    release = backed_up
    now = timezone.now()
    FreezeWindow.objects.create(name="Year-end freeze", start=now - timedelta(hours=1), end=now + timedelta(days=2))
    github_post(adapter, event(platform, release))
    assert answer_adapter_checks() == 1
    [sent] = platform.requests
    assert sent["json"]["state"] == "rejected"
    comment = sent["json"]["comment"]
    assert f"{release.number}: the release process's deployment gate answers prevented" in comment
    assert "- freeze_window: Freeze window 'Year-end freeze'" in comment


def test_a_deployment_of_a_version_without_a_release_is_rejected(backed_up, adapter, platform):
    github_post(adapter, event(platform, backed_up, ref="refs/tags/v9.9"))
    answer_adapter_checks()
    assert "no_open_release" in platform.requests[0]["json"]["comment"]


def test_the_token_goes_to_no_other_host_than_the_adapters(backed_up, adapter, platform):
    payload = event(platform, backed_up,
                    deployment_callback_url="https://attacker.example.test" + CALLBACK)
    response = github_post(adapter, payload)
    assert response.status_code == 400 and "deployment_callback_url" in response.json()
    nothing_changed(platform)


def test_an_unreachable_github_is_retried_with_a_backoff(backed_up, adapter, platform):
    platform.statuses = [502, 204]
    github_post(adapter, event(platform, backed_up))
    assert answer_adapter_checks() == 0
    check = AdapterCheck.objects.get()
    assert (check.state, check.attempts) == ("answering", 1) and "HTTP 502" in check.last_error
    AdapterCheck.objects.update(next_attempt_at=timezone.now())
    assert answer_adapter_checks() == 1
    assert AdapterCheck.objects.get().state == "answered" and len(platform.requests) == 2


def test_a_ping_is_taken_and_ignored(adapter, platform):
    response = github_post(adapter, {"zen": "Keep it logically awesome."}, event="ping")
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert not AdapterCheck.objects.exists()
