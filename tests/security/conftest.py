"""Fixtures of the security tests.

This directory runs twice: with the rest of the suite under the development
settings (``make test``), and again under ``releasemgmt.settings.production``
on PostgreSQL (``make test-production``, which CI runs after ``make test``):
the test database created by ``migrate`` under those settings, the
environment a deployment gives (``DJANGO_SECRET_KEY``,
``DJANGO_ALLOWED_HOSTS``, ``DJANGO_CSRF_TRUSTED_ORIGINS``...), static files
collected, HTTPS only. A test here must hold under both; it does not depend
on DEBUG (pytest-django turns it off anyway) or on a development default.

What to use:

- ``client``: a browser over HTTPS (``tests.security.clients.Client``); it
  replaces pytest-django's ``client`` in this directory.
- ``api_client``: DRF's ``APIClient`` over HTTPS.
- ``token_client(user)``: an HTTPS ``APIClient`` authenticated with the
  user's API token.
- More clients, or with other arguments (``enforce_csrf_checks=True``,
  ``REMOTE_ADDR=...``, ``raise_request_exception=False``): construct
  ``tests.security.clients.Client`` / ``APIClient`` (the same arguments as
  Django's and DRF's). A plain ``django.test.Client()`` talks HTTP and gets
  the redirect to HTTPS under production settings.
- ``deployment_env``: the environment of a subprocess (``manage.py
  check --deploy``, gunicorn) as the deployment runs it: this run's settings
  module and environment, ``DATABASE_URL`` naming the test database on
  PostgreSQL (``tests.security.deployment`` has it and ``production_env()``,
  a production environment made up for a test of the development pass).
- ``tests.security.live_server.gunicorn``: the application under gunicorn
  with this run's settings module, reached as a TLS proxy would reach it.
- ``@pytest.mark.production_settings``: the test asserts what only the
  production settings do; it is skipped, with that reason in the summary,
  under the development settings.
- ``@pytest.mark.development_settings``: the test asserts a development
  default that production changes on purpose; skipped, with the reason,
  under production settings. Say in the test which production test covers
  the other side.
"""
from __future__ import annotations

import pytest

from . import clients
from .clients import APIClient, Client
from .deployment import PRODUCTION, deployment_env as _deployment_env, on_production_settings


@pytest.fixture(autouse=True)
def _settings_marks(request):
    if request.node.get_closest_marker("production_settings") and not on_production_settings():
        pytest.skip(f"asserts the production settings: runs under {PRODUCTION} (make test-production)")
    if request.node.get_closest_marker("development_settings") and on_production_settings():
        pytest.skip("asserts a development default that the production settings change on purpose")


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def token_client(db):
    return clients.token_client


@pytest.fixture
def deployment_env(db):
    return _deployment_env()
