"""CSRF on every unsafe browser request, the login included; the API needs
the token only when it authenticates by the session cookie, not with
``Authorization: Token``."""
from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from releases.models import Release
from releases.scenario import new_release
from tests.signatures import PASSWORD

from .clients import Client

pytestmark = pytest.mark.django_db


def csrf_client():
    return Client(enforce_csrf_checks=True)


def csrf_token(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return client.cookies["csrftoken"].value


def test_the_login_refuses_a_post_without_the_token(make_user):
    make_user("release_manager", username="alice")
    client = csrf_client()
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    # The same login with the form's token succeeds: the 403 was the CSRF check.
    token = csrf_token(client, reverse("login"))
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD,
                                              "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


def test_a_release_transition_form_needs_the_token(actors, cis):
    release = new_release(actors, cis=cis)
    client = csrf_client()
    client.force_login(actors.release_manager)
    url = reverse("releases:transition", args=[release.pk, "start_planning"])
    assert client.post(url, {}).status_code == 403
    assert Release.objects.get(pk=release.pk).state == "new"
    token = csrf_token(client, reverse("releases:detail", args=[release.pk]))
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Release.objects.get(pk=release.pk).state == "planning"


def test_logout_needs_the_token(actors):
    client = csrf_client()
    client.force_login(actors.release_manager)
    assert client.post(reverse("logout")).status_code == 403
    assert client.get("/").status_code == 200  # still logged in


def test_the_api_with_the_session_cookie_needs_the_token(actors, cis):
    release = new_release(actors, cis=cis)
    client = csrf_client()
    client.force_login(actors.release_manager)
    url = f"/api/releases/{release.pk}/transitions/start_planning/"
    response = client.post(url, {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Release.objects.get(pk=release.pk).state == "new"
    token = csrf_token(client, reverse("releases:detail", args=[release.pk]))
    response = client.post(url, {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert Release.objects.get(pk=release.pk).state == "planning"


def test_the_api_with_a_token_needs_no_csrf_token(actors, cis):
    release = new_release(actors, cis=cis)
    key = Token.objects.create(user=actors.release_manager).key
    client = csrf_client()
    response = client.post(f"/api/releases/{release.pk}/transitions/start_planning/", {},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200, response.content
    assert Release.objects.get(pk=release.pk).state == "planning"


def test_the_admin_needs_the_token(django_user_model, actors, cis):
    root = django_user_model.objects.create_superuser("root", "root@example.test", PASSWORD)
    client = csrf_client()
    client.force_login(root)
    url = reverse("admin:auth_user_delete", args=[actors.requester.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert django_user_model.objects.filter(pk=actors.requester.pk).exists()
