"""The client's address behind reverse proxies: one function
(``releasemgmt.security.client_address``) that the anonymous API rate limit
and the login lock-out both key on. X-Forwarded-For is believed only as far
as ``TRUSTED_PROXY_COUNT`` says: without trusted proxies not at all, behind N
of them only the entry the outermost one wrote."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.test import RequestFactory
from django.urls import reverse

from releasemgmt.security import client_address
from tests.signatures import PASSWORD

from .clients import APIClient, Client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PROXY = "10.9.9.9"  # the reverse proxy, as the app sees it (REMOTE_ADDR)
ALICE, MALLORY = "198.51.100.10", "203.0.113.66"


@pytest.fixture
def anon_rate(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"api": "100/minute", "anon": "2/minute"}}


def token_request(client, **extra):
    return client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, **extra)


def behind_proxy(client_ip: str, forged: str = "") -> dict:
    """What the app receives when the proxy forwards a request from
    ``client_ip`` that arrived carrying X-Forwarded-For ``forged``."""
    forwarded = f"{forged}, {client_ip}" if forged else client_ip
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": forwarded}


# --- the function ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("trusted", "forwarded", "expected"), [
    (0, None, "192.0.2.1"),
    (0, "203.0.113.5", "192.0.2.1"),  # no trusted proxy: the header is the client's word
    (1, "203.0.113.5", "203.0.113.5"),
    (1, "1.1.1.1, 8.8.8.8 ,203.0.113.5", "203.0.113.5"),  # whatever the client wrote before it
    (2, "1.1.1.1, 203.0.113.5, 10.0.0.7", "203.0.113.5"),  # two proxies: the outer one's entry
    (2, "203.0.113.5", "203.0.113.5"),  # passed only the inner proxy: the entry it wrote
    (1, "203.0.113.5:53211", "203.0.113.5"),  # a port some proxies add
    (1, "[2001:db8::0:1]:443", "2001:db8::1"),
    (1, "2001:DB8:0::1", "2001:db8::1"),  # canonical form: one client, one key
    (1, None, "192.0.2.1"),  # a request that bypassed the proxy
    (1, "", "192.0.2.1"),
    (1, "unknown", "192.0.2.1"),  # no address: never a made-up key
    (1, "1.1.1.1, \x00<script>", "192.0.2.1"),
])
def test_client_address(settings, trusted, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = trusted
    extra = {"REMOTE_ADDR": "192.0.2.1"}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(RequestFactory().get("/", **extra)) == expected


def test_no_proxy_is_trusted_unless_configured():
    assert django_settings.TRUSTED_PROXY_COUNT == int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    assert django_settings.AXES_CLIENT_IP_CALLABLE == "releasemgmt.security.client_address"


def test_the_trusted_proxy_count_comes_from_the_environment():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.TRUSTED_PROXY_COUNT)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "releasemgmt.settings", "TRUSTED_PROXY_COUNT": "2"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2"]


# --- the anonymous rate limit ---------------------------------------------------------------------


def test_rotating_x_forwarded_for_does_not_bypass_the_anonymous_limit(anon_rate, make_user):
    make_user("release_manager", username="alice")
    client = APIClient(REMOTE_ADDR=MALLORY)
    answers = [token_request(client, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(4)]
    assert answers == [200, 200, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_anonymous_budget(settings, anon_rate, make_user):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("release_manager", username="alice")
    client = APIClient()
    # Mallory rotates what she writes into the header; the proxy appends her address.
    answers = [token_request(client, **behind_proxy(MALLORY, forged=f"192.0.2.{n}")).status_code
               for n in range(3)]
    assert answers == [200, 200, 429]
    # Alice, behind the same proxy, is not throttled for Mallory's requests.
    assert token_request(client, **behind_proxy(ALICE)).status_code == 200
    assert token_request(client, **behind_proxy(ALICE, forged=MALLORY)).status_code == 200


# --- the login lock-out ------------------------------------------------------------------------------


def fail_login(username: str, times: int, **extra) -> None:
    for _ in range(times):
        response = Client().post(reverse("login"), {"username": username, "password": "wrong-guess"}, **extra)
        assert response.status_code in (200, 429)


def login(username: str, password: str = PASSWORD, **extra) -> int:
    return Client().post(reverse("login"), {"username": username, "password": password}, **extra).status_code


def test_rotating_x_forwarded_for_does_not_escape_the_lock_out(make_user):
    make_user("release_manager", username="alice")
    for n in range(django_settings.AXES_FAILURE_LIMIT):
        fail_login("alice", 1, REMOTE_ADDR=MALLORY, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert login("alice", REMOTE_ADDR=MALLORY, HTTP_X_FORWARDED_FOR="192.0.2.99") == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {MALLORY}


def test_behind_a_trusted_proxy_nobody_locks_anybody_else_out(settings, make_user):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("release_manager", username="alice")
    # Mallory guesses Alice's password from her own address, behind the proxy.
    fail_login("alice", django_settings.AXES_FAILURE_LIMIT, **behind_proxy(MALLORY, forged=ALICE))
    assert login("alice", **behind_proxy(MALLORY)) == 429  # Mallory is locked out
    assert login("alice", **behind_proxy(ALICE)) == 302  # Alice is not
    # The lock-out keyed on Mallory's address, never on the proxy's.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {MALLORY}


def test_the_api_token_endpoint_locks_per_client_behind_the_proxy(settings, make_user):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("release_manager", username="alice")
    api = APIClient()
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        api.post("/api/auth/token/", {"username": "alice", "password": "nope"}, **behind_proxy(MALLORY))
    assert token_request(api, **behind_proxy(MALLORY)).status_code == 429
    assert token_request(api, **behind_proxy(ALICE)).status_code == 200
    assert PROXY not in set(AccessAttempt.objects.values_list("ip_address", flat=True))
