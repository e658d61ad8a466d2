"""A pipeline's gate token: accepted by the gate and nothing else, shown once,
kept only as a digest; a user's own token works at the gate too."""
from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from pipelines import services
from pipelines.models import PipelineToken
from releasemgmt.workflow import TransitionForbidden
from releases.models import RefusedAttempt
from tests.helpers import html, token_client

from .conftest import bearer

pytestmark = pytest.mark.django_db


def test_the_gate_takes_the_token_as_its_service_account(gate_client, pipeline):
    response = gate_client.get("/api/gate/", {"environment": "staging"})
    assert response.status_code == 200
    assert response.wsgi_request.user == pipeline


@pytest.mark.parametrize("method, path", [("get", "/api/releases/"), ("get", "/api/users/me/"),
                                          ("post", "/api/releases/"), ("get", "/api/metrics/")])
def test_anywhere_else_the_token_is_refused_and_the_refusal_kept(gate_client, pipeline, method, path):
    response = getattr(gate_client, method)(path, {}, format="json") if method == "post" else gate_client.get(path)
    assert response.status_code == 403
    assert response.json()["detail"] == "A pipeline token is accepted only by the deployment gate (/api/gate/)."
    row = RefusedAttempt.objects.get()
    assert (row.by, row.action, row.code, row.entry_point) == (pipeline, "gate_token_scope", "forbidden", "api")


def test_the_token_opens_no_page(gate_key):
    response = Client().get("/releases/", HTTP_AUTHORIZATION=f"Bearer {gate_key}")
    assert response.status_code == 302  # to the login page: pages know no tokens


@pytest.mark.parametrize("header", ["Bearer gate_not-a-token", "Bearer", "Bearer a b"])
def test_an_unknown_token_is_a_401(db, header):
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/gate/", {"environment": "staging"}).status_code == 401


def test_a_revoked_token_is_a_401_at_once(gate_key, admin_user):
    token = PipelineToken.objects.get()
    services.token_revoke(token_id=token.pk, by=admin_user)
    assert bearer(gate_key).get("/api/gate/", {"environment": "staging"}).status_code == 401


def test_the_token_of_a_deactivated_account_is_a_401(gate_key, pipeline):
    pipeline.is_active = False
    pipeline.save()
    assert bearer(gate_key).get("/api/gate/", {"environment": "staging"}).status_code == 401


def test_a_users_own_token_works_at_the_gate(walk, actors):
    release = walk("backed_up").release
    response = token_client(actors.deployment_team).get("/api/gate/", {"release": release.pk})
    assert response.json()["decision"] == "allowed"


def test_the_token_is_kept_as_a_digest_and_shown_as_a_fingerprint(gate_key):
    token = PipelineToken.objects.get()
    digest = hashlib.sha256(gate_key.encode()).hexdigest()
    assert gate_key.startswith("gate_")
    assert token.key_digest == digest and token.fingerprint == digest[:12]
    assert not any(gate_key in str(value) for value in PipelineToken.history.values_list())


def test_only_a_deployment_team_account_gets_a_token(make_user, admin_user):
    with pytest.raises(ValidationError):
        services.token_create(name="x", user=make_user("release_manager"), by=admin_user)
    with pytest.raises(ValidationError):
        services.token_create(name="x", user=admin_user, by=admin_user)


def test_only_a_token_administrator_creates_one_and_a_refusal_is_kept(make_user, pipeline):
    deployer = make_user("deployment_team")
    with pytest.raises(TransitionForbidden):
        services.token_create(name="mine", user=pipeline, by=deployer)
    assert RefusedAttempt.objects.get().action == "create_pipeline_token"
    assert not PipelineToken.objects.exists()


def test_the_admin_shows_the_token_once_then_its_fingerprint(admin_user, pipeline):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post("/admin/pipelines/pipelinetoken/add/", {"name": "Argo CD", "user": pipeline.pk})
    assert response.status_code == 200, html(response)[:2000]
    assert "no-store" in response["Cache-Control"]
    token = PipelineToken.objects.get()
    page = html(response)
    key = page.split('class="gate-token">')[1].split("<")[0]
    assert hashlib.sha256(key.encode()).hexdigest() == token.key_digest
    assert bearer(key).get("/api/gate/", {"environment": "staging"}).status_code == 200
    listing = html(browser.get("/admin/pipelines/pipelinetoken/"))
    assert token.fingerprint in listing and key not in listing
    assert key not in html(browser.get(f"/admin/pipelines/pipelinetoken/{token.pk}/change/"))
