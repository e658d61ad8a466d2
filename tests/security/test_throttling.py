"""API rate limits: one budget per token (per user for a browser session,
per address when anonymous); over it, 429 with Retry-After in the API's error
shape, and the refused request changes nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from releases.models import Release, TransitionLog
from releases.scenario import new_release

from .clients import APIClient, token_client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rates(settings):
    def set_rates(api="3/minute", anon="2/minute"):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": api, "anon": anon}}
    return set_rates


def assert_throttled(response, window=60):
    assert response.status_code == 429, response.content
    assert 0 < int(response["Retry-After"]) <= window
    body = response.json()
    assert body["code"] == "throttled" and "throttled" in body["detail"]


def test_a_token_over_its_budget_gets_429_with_retry_after(rates, actors):
    rates(api="3/minute")
    client = token_client(actors.release_manager)
    for _ in range(3):
        assert client.get("/api/releases/").status_code == 200
    assert_throttled(client.get("/api/releases/"))
    assert_throttled(client.get("/api/tasks/"))  # one budget for the whole API


def test_each_token_has_its_own_budget(rates, actors):
    rates(api="2/minute")
    first, second = token_client(actors.release_manager), token_client(actors.change_manager)
    for _ in range(2):
        assert first.get("/api/releases/").status_code == 200
    assert_throttled(first.get("/api/releases/"))
    assert second.get("/api/releases/").status_code == 200


def test_a_throttled_transition_changes_nothing(rates, actors, cis):
    rates(api="1/minute")
    release = new_release(actors, cis=cis)
    client = token_client(actors.release_manager)
    assert client.get(f"/api/releases/{release.pk}/").status_code == 200
    logged = TransitionLog.objects.count()
    assert_throttled(client.post(f"/api/releases/{release.pk}/transitions/start_planning/", {}, format="json"))
    assert Release.objects.get(pk=release.pk).state == "new"
    assert TransitionLog.objects.count() == logged


def test_a_browser_session_counts_against_its_user(rates, client, actors):
    rates(api="2/minute")
    client.force_login(actors.release_manager)
    for _ in range(2):
        assert client.get("/api/releases/").status_code == 200
    assert_throttled(client.get("/api/releases/"))
    assert client.get("/").status_code == 200  # the pages are not rate-limited


def test_anonymous_clients_are_limited_per_address(rates, make_user):
    rates(anon="2/minute")
    make_user("release_manager", username="alice")
    here, there = APIClient(REMOTE_ADDR="10.1.1.1"), APIClient(REMOTE_ADDR="10.2.2.2")
    for _ in range(2):
        assert here.post("/api/auth/token/", {"username": "alice", "password": "pw-test-12345"}).status_code == 200
    assert_throttled(here.post("/api/auth/token/", {"username": "alice", "password": "pw-test-12345"}))
    assert there.post("/api/auth/token/", {"username": "alice", "password": "pw-test-12345"}).status_code == 200


def test_the_cache_does_not_hold_the_token(rates, actors):
    rates(api="5/minute")
    key = Token.objects.create(user=actors.release_manager).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/releases/").status_code == 200
    keys = list(cache._cache.keys())  # LocMemCache, one per test (tests/conftest.py)
    assert any("throttle_api_token:" in k for k in keys)
    assert not any(key in k for k in keys)


def test_the_default_budget_is_generous(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates["api"] == os.environ.get("API_THROTTLE_RATE", "1200/minute")
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == ["releasemgmt.security.ApiRateThrottle"]


def test_rates_and_the_shared_cache_come_from_the_environment():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['api'], s.CACHES['default']['BACKEND'], "
            "s.CACHES['default']['LOCATION'])")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "releasemgmt.settings", "API_THROTTLE_RATE": "100000/minute",
           "REDIS_URL": "redis://127.0.0.1:6399/3"}
    env.pop("CACHE_URL", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["100000/minute", "releasemgmt.cache.ResilientRedisCache",
                                  "redis://127.0.0.1:6399/3"]


def test_the_api_keeps_answering_while_the_cache_is_down(settings, actors, caplog):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{port}/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    client = token_client(actors.release_manager)
    assert client.get("/api/releases/").status_code == 200
    assert "Rate limit not applied" in caplog.text
