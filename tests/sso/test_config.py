"""Single sign-on's configuration from the environment, and the rule that
maps the provider's groups to the process's roles."""
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from sso.accounts import sign_in, sync_roles
from sso.config import OidcConfig, parse_role_map, roles_from_claims
from tests.helpers import create_user

ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = {"OIDC_ISSUER": "https://id.example.test/realms/it/", "OIDC_CLIENT_ID": "releases",
            "OIDC_CLIENT_SECRET": "s3cret"}


def config(**kw):
    return OidcConfig(**{"issuer": "https://id.example.test", "client_id": "releases", "client_secret": "s",
                         "role_map": {"release-managers": "release_manager", "cab": "cab_member",
                                      "cab-chairs": "cab_member"}, **kw})


def test_the_role_map_is_group_equals_role_pairs():
    assert parse_role_map(" release-managers=release_manager, cab = cab_member,,") == {
        "release-managers": "release_manager", "cab": "cab_member"}
    assert parse_role_map("") == {}


@pytest.mark.parametrize("text, reason", [
    ("release-managers", "is not group=role"),
    ("=cab_member", "is not group=role"),
    ("cab=cab_chair", "is not a role"),
    ("cab=cab_member,cab=release_manager", "mapped to two roles"),
])
def test_a_role_map_that_cannot_be_meant_stops_the_start(text, reason):
    with pytest.raises(ImproperlyConfigured, match=reason):
        parse_role_map(text)


def test_the_environment_gives_the_configuration_with_its_defaults():
    assert OidcConfig.from_env({}) is None
    got = OidcConfig.from_env(BASE_ENV)
    assert got.issuer == "https://id.example.test/realms/it"  # compared without the trailing slash
    assert (got.roles_claim, got.role_map, got.sign_max_age, got.scopes) == ("groups", {}, 300, "openid email profile")
    assert got.display_name == "id.example.test"
    got = OidcConfig.from_env({**BASE_ENV, "OIDC_ROLES_CLAIM": "realm_access.roles", "OIDC_PROVIDER_NAME": "Corp SSO",
                               "OIDC_ROLE_MAP": "cab=cab_member", "OIDC_SIGN_MAX_AGE": "120"})
    assert (got.roles_claim, got.role_map, got.display_name, got.sign_max_age) == (
        "realm_access.roles", {"cab": "cab_member"}, "Corp SSO", 120)


@pytest.mark.parametrize("change, reason", [
    ({"OIDC_CLIENT_SECRET": ""}, "OIDC_CLIENT_SECRET"),
    ({"OIDC_ISSUER": "id.example.test"}, "not an http"),
    ({"OIDC_SIGN_MAX_AGE": "soon"}, "number of seconds"),
    ({"OIDC_SIGN_MAX_AGE": "86400"}, "between 30 and 3600"),
    ({"OIDC_SCOPES": "email profile"}, "openid"),
])
def test_an_incomplete_configuration_stops_the_start(change, reason):
    with pytest.raises(ImproperlyConfigured, match=reason):
        OidcConfig.from_env({**BASE_ENV, **change})


def _settings_in_a_process(env, module="releasemgmt.settings"):
    script = f"import {module} as s; print(s.AUTHENTICATION_BACKENDS)"
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "x" * 50, **env})
    return run.stdout + run.stderr


def test_local_accounts_switched_off_leave_no_password_backend_and_need_single_sign_on():
    out = _settings_in_a_process({**BASE_ENV, "LOCAL_LOGIN_ENABLED": "false"})
    assert "sso.backends.OidcBackend" in out and "ModelBackend" not in out
    assert "nobody could log in" in _settings_in_a_process({"LOCAL_LOGIN_ENABLED": "false"})
    out = _settings_in_a_process({**BASE_ENV, "OIDC_ISSUER": "http://id.example.test"},
                                 "releasemgmt.settings.production")
    assert "must be an https URL under the production settings" in out


def test_roles_come_from_the_named_claim_through_the_map():
    cfg = config()
    assert roles_from_claims({"groups": ["cab", "staff", 7]}, cfg) == {"cab_member"}
    assert roles_from_claims({"groups": "release-managers"}, cfg) == {"release_manager"}
    assert roles_from_claims({}, cfg) == set() and roles_from_claims({"groups": {"cab": 1}}, cfg) == set()
    nested = config(roles_claim="realm_access.roles")
    assert roles_from_claims({"realm_access": {"roles": ["cab-chairs"]}}, nested) == {"cab_member"}
    assert roles_from_claims({"realm_access": "cab"}, nested) == set()


@pytest.mark.django_db
def test_roles_the_map_manages_follow_the_groups_and_others_are_left_alone():
    user = create_user("dana", "release_manager", "stakeholder")
    added, removed = sync_roles(user, {"groups": ["cab"]}, config())
    assert (added, removed) == ({"cab_member"}, {"release_manager"})
    assert set(user.groups.values_list("name", flat=True)) == {"cab_member", "stakeholder"}
    assert sync_roles(user, {"groups": ["cab", "cab-chairs"]}, config()) == (set(), set())


@pytest.mark.django_db
def test_a_first_sign_in_never_becomes_a_local_user_of_the_same_name():
    local = create_user("admin", "release_manager")
    user = sign_in({"sub": "x-1", "preferred_username": "admin", "email": local.email, "groups": ["cab"]}, config())
    assert user.pk != local.pk and user.username.startswith("admin-") and not user.has_usable_password()
    assert set(user.groups.values_list("name", flat=True)) == {"cab_member"}
    # The same subject next time is the same user, whatever name it now gives.
    again = sign_in({"sub": "x-1", "preferred_username": "root", "groups": []}, config())
    assert again.pk == user.pk and not again.groups.exists()


@pytest.mark.django_db
def test_a_deactivated_user_is_returned_untouched():
    user = sign_in({"sub": "x-2", "preferred_username": "eve", "groups": ["cab"]}, config())
    user.is_active = False
    user.save()
    back = sign_in({"sub": "x-2", "preferred_username": "eve", "groups": ["release-managers"]}, config())
    assert not back.is_active and set(back.groups.values_list("name", flat=True)) == {"cab_member"}
