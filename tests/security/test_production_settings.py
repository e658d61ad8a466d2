"""The production settings, as a deployment runs them (``make
test-production``): the run really is on ``releasemgmt.settings.production``
with the deployment's environment, the deploy checks pass against the
database ``migrate`` created under them, every response carries the security
headers over HTTPS, cookies are Secure, plain HTTP is redirected, and a 500
shows no traceback. Skipped, with that reason, under other settings.

The append-only triggers under these settings: test_append_only.py, which
runs in this pass too."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client as PlainHttpClient
from django.urls import reverse

from .boom_urls import SECRET_LOOKING
from .clients import Client
from .deployment import PRODUCTION, settings_module
from .test_errors import assert_no_leak

pytestmark = [pytest.mark.production_settings, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parents[2]
HSTS = "max-age=31536000; includeSubDomains; preload"


def run(args, env, **kwargs):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180, **kwargs)


def test_the_run_is_on_the_production_settings(deployment_env):
    assert settings_module() == PRODUCTION
    assert settings.SECURE_SSL_REDIRECT and settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    assert settings.API_SCHEMA_PUBLIC is False
    assert settings.STORAGES["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert settings.SECRET_KEY != "dev-only-insecure-key-change-me"
    # pytest-django turns DEBUG off in this process whatever the settings say;
    # the deployment's own process must have it off, even if asked for it.
    code = "import django; django.setup(); from django.conf import settings as s; print(s.DEBUG, s.SETTINGS_MODULE)"
    result = run(["-c", code], {**deployment_env, "DJANGO_DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", PRODUCTION]


def test_the_deploy_checks_pass_with_the_deployment_environment(deployment_env):
    """Django's deploy checks and ours (history append-only in the database
    that ``migrate`` made under these settings), warnings failing too."""
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], deployment_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def assert_security_headers(response):
    assert response["Strict-Transport-Security"] == HSTS
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_a_page_over_https_carries_the_headers_and_collected_static_files(client, actors):
    client.force_login(actors.release_manager)
    page = client.get("/")
    assert page.status_code == 200
    assert_security_headers(page)
    # The manifest storage names files by content (collectstatic ran), and they are served.
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.content.decode())
    assert css, "the stylesheet's URL carries its hash"
    served = client.get(css.group(1))
    assert served.status_code == 200 and "immutable" in served["Cache-Control"]


def test_an_api_response_over_https_carries_them_too(token_client, actors):
    response = token_client(actors.release_manager).get("/api/releases/")
    assert response.status_code == 200
    assert_security_headers(response)


def test_the_schema_needs_a_login(api_client, token_client, actors):
    assert api_client.get("/api/schema/").status_code == 401
    assert token_client(actors.requester).get("/api/schema/").status_code == 200


def test_cookies_are_secure_httponly_and_samesite(client, make_user):
    make_user("release_manager", username="alice")
    csrf = client.get(reverse("login")).cookies["csrftoken"]
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-test-12345",
                                              "csrfmiddlewaretoken": csrf.value})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    for cookie in (csrf, session):
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax", cookie.key


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/releases/", "/admin/"])
def test_plain_http_is_redirected_to_https(path):
    response = PlainHttpClient().get(path)
    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{path}"


def test_a_500_page_and_api_error_show_no_traceback(settings, actors, caplog):
    settings.ROOT_URLCONF = "tests.security.boom_urls"  # DEBUG as production leaves it
    client = Client(raise_request_exception=False)
    client.force_login(actors.release_manager)
    with caplog.at_level(logging.ERROR):
        page, api = client.get("/boom/"), client.get("/api/boom/")
    assert page.status_code == api.status_code == 500
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    # The page itself, not its bare fallback: it found its collected stylesheet.
    assert f'<code class="correlation-id">{page["X-Request-ID"]}</code>' in html
    assert re.search(r'href="/static/css/app\.[0-9a-f]{12}\.css"', html)
    assert api.json()["correlation_id"] == api["X-Request-ID"]
    for response in (page, api):
        assert_no_leak(response.content.decode())
        assert_security_headers(response)
    assert any(SECRET_LOOKING in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
