"""An adapter's settings in Django admin: its webhook secret and API token
are typed in, kept sealed, never shown back (only their fingerprints), and a
blank field keeps them."""
from __future__ import annotations

import pytest
from django.test import Client

from pipelines.adapter_models import PipelineAdapter
from releasemgmt.secretbox import fingerprint
from tests.helpers import html

pytestmark = pytest.mark.django_db

SECRET, TOKEN = "typed-webhook-secret-42", "glpat-typed-api-token-42"


def form(pipeline, **fields):
    return {"name": "GitLab payments", "kind": "gitlab", "user": pipeline.pk, "base_url": "https://gitlab.example.test",
            "repositories": "{}", "environments": '{"prod": "production"}', "version_from": "ref", "active": "on",
            "webhook_secret": SECRET, "api_token": TOKEN, **fields}


@pytest.fixture
def staff_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_secrets_are_sealed_and_never_shown_back(staff_client, pipeline):
    response = staff_client.post("/admin/pipelines/pipelineadapter/add/", form(pipeline))
    assert response.status_code == 302, html(response)[:3000]
    adapter = PipelineAdapter.objects.get()
    assert (adapter.webhook_secret(), adapter.api_token()) == (SECRET, TOKEN)
    assert SECRET not in adapter.webhook_secret_sealed and TOKEN not in adapter.api_token_sealed
    page = html(staff_client.get(f"/admin/pipelines/pipelineadapter/{adapter.pk}/change/"))
    assert SECRET not in page and TOKEN not in page
    assert fingerprint(SECRET) in page and f"/api/gate/gitlab/{adapter.pk}/" in page
    assert not any(SECRET in str(row) or TOKEN in str(row) for row in PipelineAdapter.history.values_list())

    # A change with the secret fields blank keeps them.
    changed = staff_client.post(f"/admin/pipelines/pipelineadapter/{adapter.pk}/change/",
                           form(pipeline, webhook_secret="", api_token="", name="GitLab payments group"))
    assert changed.status_code == 302, html(changed)[:3000]
    adapter.refresh_from_db()
    assert adapter.name == "GitLab payments group" and adapter.webhook_secret() == SECRET


def test_an_adapter_acts_as_a_deployment_team_service_account(staff_client, admin_user):
    response = staff_client.post("/admin/pipelines/pipelineadapter/add/", form(admin_user))
    assert response.status_code == 200 and "service account" in html(response)
    assert not PipelineAdapter.objects.exists()
