"""Security headers, cookies and the Content-Security-Policy: on every page
in development and tests alike; HSTS, Secure cookies and the deploy checks in
production settings."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from releases import services as s
from releases.scenario import Walker, new_release

from .deployment import production_env

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def test_a_page_carries_the_security_headers(client, actors):
    client.force_login(actors.release_manager)
    response = client.get("/")
    assert response.status_code == 200
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_api_carries_them_too(client, actors):
    client.force_login(actors.release_manager)
    response = client.get("/api/releases/")
    assert response.status_code == 200
    assert csp(response)["frame-ancestors"] == ["'none'"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_session_and_csrf_cookies_are_httponly_and_samesite(client, actors):
    page = client.get(reverse("login"))
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(reverse("login"), {"username": "rm", "password": "pw-test-12345",
                                              "csrfmiddlewaretoken": csrf.value})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


# --- nothing inline: the pages render within the policy --------------------------------------


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
STYLE_ATTR = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
HANDLER_ATTR = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_TAG = re.compile(r"<style([^>]*)>", re.I)


def assert_within_policy(response):
    """What a browser would block under the response's policy: inline
    scripts, style and event handler attributes, <style> without the nonce."""
    body = response.content.decode()
    url = response.wsgi_request.path
    assert not INLINE_SCRIPT.search(body), url
    assert not STYLE_ATTR.search(body), (url, STYLE_ATTR.search(body).group(0))
    assert not HANDLER_ATTR.search(body), url
    nonces = re.findall(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    for attrs in STYLE_TAG.findall(body):
        nonce = re.search(r'nonce="([^"]+)"', attrs)
        assert nonce and nonce.group(1) in nonces, (url, attrs)


@pytest.fixture
def world(actors, cis):
    """A release in CAB review (meter, plan), so the pages show what they can."""
    release = new_release(actors, cis=cis)
    release = Walker(release, actors).to("planning")
    Walker(release, actors).plan()
    release = s.release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    return release


def test_ui_pages_have_no_inline_script_or_style(client, actors, world):
    client.force_login(actors.cab_members[0])
    urls = ["/", reverse("releases:list"), reverse("releases:detail", args=[world.pk]),
            reverse("releases:cab_queue"), reverse("releases:cab_review", args=[world.pk]),
            reverse("releases:calendar"), reverse("releases:calendar") + "?view=week",
            reverse("releases:tasks"), reverse("changes:list"), reverse("cmdb:ci_list")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_within_policy(response)


def test_the_login_and_error_pages_too(client):
    assert_within_policy(client.get(reverse("login")))


def test_admin_pages_stay_within_the_policy(client, actors, world, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345")
    client.force_login(admin)
    for url in (reverse("admin:index"), reverse("admin:releases_release_change", args=[world.pk])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_within_policy(response)


def test_swagger_ui_loads_its_script_as_a_file(client, actors):
    client.force_login(actors.requester)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert_within_policy(page)
    script = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', page.content.decode())
    assert script, "the initialiser is a script file"
    js = client.get(script.group(1).replace("&amp;", "&"))
    assert js.status_code == 200 and js["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in js.content


# --- production ----------------------------------------------------------------------------------


def test_production_settings_pass_the_deploy_checks_with_no_warning():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_production_sends_hsts_and_marks_cookies_secure():
    # An API path: the pages' {% static %} needs collectstatic's manifest in production.
    code = """
import django; django.setup()
from django.conf import settings
from django.test import Client
r = Client().get("/api/auth/token/", secure=True, HTTP_HOST="releases.example.com")
print(r.status_code, "|", r["Strict-Transport-Security"], "|", settings.SESSION_COOKIE_SECURE,
      settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, "|", r["Content-Security-Policy"])
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=production_env(),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    status, hsts, cookies, policy = [p.strip() for p in result.stdout.strip().splitlines()[-1].split("|")]
    assert status == "405"
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert cookies == "True True True"
    assert "frame-ancestors 'none'" in policy
