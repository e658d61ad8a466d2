"""What needs a login: the API schema and docs in production (any user), the
admin (staff)."""
from __future__ import annotations

import pytest
from django.urls import reverse

from .clients import token_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/docs/?script="])
def test_the_schema_and_docs_need_a_login_where_they_are_not_public(client, actors, path, settings):
    settings.API_SCHEMA_PUBLIC = False  # as production.py sets it
    anonymous = client.get(path)
    assert anonymous.status_code == 401
    assert b"openapi" not in anonymous.content and b"/api/releases/" not in anonymous.content
    api = token_client(actors.requester)
    assert api.get(path).status_code == 200
    client.force_login(actors.requester)
    assert client.get(path).status_code == 200


# Production keeps it behind a login: test_production_settings_keep_the_schema_behind_a_login.
@pytest.mark.development_settings
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_schema_is_public_by_default_as_the_api_contract_says(client, path):
    response = client.get(path)
    assert response.status_code == 200


def test_production_settings_keep_the_schema_behind_a_login():
    import subprocess
    import sys

    from .deployment import production_env
    from .test_headers_and_csp import ROOT

    code = "import django; django.setup(); from django.conf import settings; print(settings.API_SCHEMA_PUBLIC)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=production_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_the_admin_needs_a_staff_login(client, make_user, django_user_model):
    for url in (reverse("admin:index"), reverse("admin:releases_release_changelist"),
                reverse("admin:auth_user_changelist")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url
    client.force_login(make_user("release_manager"))  # a role, but not staff
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    staff = make_user("release_manager", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:index")).status_code == 200
    # Staff without the permission still cannot open the users.
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
