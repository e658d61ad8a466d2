"""A real OpenID Connect provider for the single sign-on tests
(oidc-provider-mock, a WSGI app served on a thread), and the settings that
point the app at it. Import the fixtures into a test module to use them."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from oidc_provider_mock import User as ProviderUser
from oidc_provider_mock import run_server_in_thread

from sso import discovery
from sso.config import OidcConfig

ROLE_MAP = {"release-managers": "release_manager", "cab": "cab_member"}
PROVIDER = "Test IdP"


@pytest.fixture(scope="module")
def provider():
    """The provider's URL (its issuer), with alice in two mapped groups and one the map ignores."""
    alice = ProviderUser(sub="alice-0001", claims={"preferred_username": "alice", "email": "alice@example.test",
                                                   "groups": ["release-managers", "cab", "staff"]})
    with run_server_in_thread(user_claims=[alice]) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def sso(provider, settings):
    """Single sign-on configured against ``provider``; yields the issuer."""
    settings.SSO = OidcConfig(issuer=provider, client_id="releases", client_secret="s3cret", role_map=ROLE_MAP,
                              provider_name=PROVIDER)
    discovery.forget()
    # The role groups the map names, whatever a flushing test before left
    # (a browser test late in the run has seen them missing).
    from django.contrib.auth.models import Group

    from releasemgmt.workflow import ROLES

    for role in ROLES:
        Group.objects.get_or_create(name=role)
    yield provider
    discovery.forget()


def set_claims(provider, sub, **claims):
    """What the provider says of ``sub`` from now on."""
    requests.put(f"{provider}/users/{sub}", json=claims, timeout=5).raise_for_status()


def authorize(location: str, sub: str) -> str:
    """At the provider's authorization endpoint ``location`` (where the app
    sent the browser), authenticate as ``sub``: the callback URL it answers."""
    answer = requests.post(location, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
