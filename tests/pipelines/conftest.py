"""A pipeline at the gate: its service account (deployment team role), its
gate token, and API clients that send it."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from pipelines import services
from tests.helpers import create_user, reach

# The adapters' fake platform and the release their tests share.
from .adapter_kit import adapter_world, at_go, backed_up, platform  # noqa: E402,F401


@pytest.fixture
def admin_user(db):
    return create_user("gate-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def pipeline(make_user, admin_user):
    """The service account a CI/CD pipeline acts as."""
    return make_user("deployment_team", username="jenkins")


@pytest.fixture
def gate_key(pipeline, admin_user):
    """The pipeline's gate token, as the admin showed it once."""
    _token, key = services.token_create(name="Jenkins orders-api", user=pipeline, by=admin_user)
    return key


def bearer(key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def gate_client(gate_key):
    return bearer(gate_key)


@pytest.fixture
def walk(actors, cis):
    """``walk(state, **release_kw)``: a release over the CIs brought to ``state`` (its Walker)."""
    def make(state, **kw):
        return reach(actors, cis, state, **kw)
    return make
