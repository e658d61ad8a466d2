"""Logging in: lock-out after repeated failures (django-axes), a new session
key at login, logout ending the session on the server, and a deactivated
user losing every session and token at once."""
from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.signatures import PASSWORD

from .clients import APIClient, Client

pytestmark = pytest.mark.django_db


def ui_login(client, username, password, ip="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client, username, times, ip="10.0.0.1", url=None):
    for _ in range(times):
        response = client.post(url or reverse("login"), {"username": username, "password": "wrong-guess"},
                               REMOTE_ADDR=ip)
        assert response.status_code in (200, 429)
    return response


# --- lock-out ---------------------------------------------------------------------------------


def test_the_login_locks_after_the_failure_limit_even_for_the_right_password(client, make_user):
    make_user("release_manager", username="alice")
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    response = fail(client, "alice", limit - 1)
    assert response.status_code == 200  # wrong password: the form again
    assert ui_login(Client(), "alice", "wrong-guess").status_code == 429  # the limit-th failure locks
    locked = ui_login(Client(), "alice", PASSWORD)
    assert locked.status_code == 429
    assert "Login locked" in locked.content.decode()
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert "_auth_user_id" not in Client().session  # nobody logged in
    # Every attempt counts, the right password during the lock-out too.
    assert AccessAttempt.objects.get(username="alice").failures_since_start == limit + 1


def test_the_lock_is_per_username_and_address(client, make_user):
    make_user("release_manager", username="alice")
    make_user("release_manager", username="bob")
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    assert ui_login(Client(), "alice", PASSWORD).status_code == 429
    assert ui_login(Client(), "bob", PASSWORD).status_code == 302  # another user: unaffected
    assert ui_login(Client(), "alice", PASSWORD, ip="10.0.0.2").status_code == 302  # another address


def test_a_success_before_the_limit_resets_the_count(client, make_user):
    make_user("release_manager", username="alice")
    fail(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert ui_login(Client(), "alice", PASSWORD).status_code == 302
    fail(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert ui_login(Client(), "alice", PASSWORD).status_code == 302


def test_the_admin_login_locks_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.test", PASSWORD)
    url = reverse("admin:login")
    fail(client, "root", settings.AXES_FAILURE_LIMIT, url=url)
    response = Client().post(url, {"username": "root", "password": PASSWORD, "next": "/admin/"},
                             REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 429
    assert "Login locked" in response.content.decode()


def test_the_api_token_endpoint_counts_failures_and_locks(make_user):
    make_user("release_manager", username="alice")
    api = APIClient(REMOTE_ADDR="10.0.0.1")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert api.post("/api/auth/token/", {"username": "alice", "password": "nope"}).status_code == 400
    assert api.post("/api/auth/token/", {"username": "alice", "password": "nope"}).status_code == 429
    response = api.post("/api/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out" and "token" not in response.json()
    assert int(response["Retry-After"]) == 15 * 60
    assert not Token.objects.filter(user__username="alice").exists()


# --- sessions -----------------------------------------------------------------------------------


def test_login_starts_a_new_session(client, make_user):
    make_user("release_manager", username="alice")
    client.get(reverse("login"))
    session = client.session
    session["before_login"] = "x"
    session.save()
    before = session.session_key
    assert ui_login(client, "alice", PASSWORD).status_code == 302
    after = client.cookies["sessionid"].value
    assert after != before  # no session fixation
    assert not Session.objects.filter(session_key=before).exists()
    assert Session.objects.get(session_key=after).get_decoded()["_auth_user_id"]


def test_logout_is_a_post_and_ends_the_session_on_the_server(client, make_user):
    make_user("release_manager", username="alice")
    ui_login(client, "alice", PASSWORD)
    key = client.cookies["sessionid"].value
    assert client.get("/").status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # a link cannot log you out
    assert Session.objects.filter(session_key=key).exists()
    assert client.post(reverse("logout")).status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    replay = Client()
    replay.cookies["sessionid"] = key  # the old cookie, kept by an attacker
    response = replay.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_deactivating_a_user_revokes_sessions_and_tokens(make_user, django_user_model):
    alice = make_user("release_manager", username="alice")
    other = make_user("release_manager", username="bob")
    browser = Client()
    assert ui_login(browser, "alice", PASSWORD).status_code == 302
    second_browser = Client()
    second_browser.force_login(alice)
    bobs = Client()
    bobs.force_login(other)
    token = Token.objects.create(user=alice)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/releases/").status_code == 200
    assert browser.get("/").status_code == 200
    keys = [browser.cookies["sessionid"].value, second_browser.cookies["sessionid"].value]

    alice.is_active = False
    alice.save()  # as the admin's change form does

    assert not Token.objects.filter(user=alice).exists()
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert api.get("/api/releases/").status_code == 401
    response = browser.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert bobs.get("/").status_code == 200  # nobody else is logged out


def test_deactivating_through_the_admin_revokes_too(make_user, django_user_model):
    alice = make_user("release_manager", username="alice")
    token = Token.objects.create(user=alice)
    browser = Client()
    browser.force_login(alice)
    root = django_user_model.objects.create_superuser("root", "root@example.test", PASSWORD)
    admin = Client()
    admin.force_login(root)
    form = admin.get(reverse("admin:auth_user_change", args=[alice.pk])).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("password", "last_login",
                                                                                 "date_joined")}
    data.update(is_active="", groups=[g.pk for g in alice.groups.all()], user_permissions=[],
                date_joined_0=alice.date_joined.strftime("%Y-%m-%d"),
                date_joined_1=alice.date_joined.strftime("%H:%M:%S"))
    data.pop("is_active")
    response = admin.post(reverse("admin:auth_user_change", args=[alice.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    alice.refresh_from_db()
    assert not alice.is_active
    assert not Token.objects.filter(pk=token.pk).exists()
    assert browser.get("/").status_code == 302


# --- the password that signs a CAB vote is a login attempt too ----------------------------------


def test_wrong_signature_passwords_count_and_lock_the_signing(actors, cis):
    from releases import services as s
    from releases.models import CabVote
    from releases.scenario import Walker, new_release

    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    Walker(release, actors).plan()
    release = s.release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    cab = actors.cab_members[0]
    client = Client(REMOTE_ADDR="10.0.0.9")
    client.force_login(cab)  # a session someone else may be holding
    url = reverse("releases:cab_vote", args=[release.pk])
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        wrong = client.post(url, {"vote-decision": "approve", "password": "guess"})
        assert wrong.status_code == 400 and "That is not your password" in wrong.content.decode()
    assert AccessAttempt.objects.get(username=cab.username).failures_since_start == settings.AXES_FAILURE_LIMIT - 1
    assert client.post(url, {"vote-decision": "approve", "password": "guess"}).status_code == 429
    # Locked: the right password does not sign either, and nothing is recorded.
    locked = client.post(url, {"vote-decision": "approve", "password": PASSWORD})
    assert locked.status_code == 429 and "Login locked" in locked.content.decode()
    assert not CabVote.objects.exists()
    # Another CAB member signs as usual.
    other = Client(REMOTE_ADDR="10.0.0.9")
    other.force_login(actors.cab_members[1])
    ok = other.post(url, {"vote-decision": "approve", "vote-comment": "Fine.", "password": PASSWORD})
    assert ok.status_code == 302 and CabVote.objects.count() == 1
