"""The deployment a production-settings test stands in for: which settings
run, and the environment a subprocess gets (see conftest.py)."""
from __future__ import annotations

import os
import secrets

from .live_server import database_url

PRODUCTION = "releasemgmt.settings.production"


def settings_module() -> str:
    """The settings module of this run. Read from the environment, where
    Django (and pytest-django's ``--ds``) take it: ``settings.SETTINGS_MODULE``
    is None while a test overrides settings."""
    return os.environ["DJANGO_SETTINGS_MODULE"]


def on_production_settings() -> bool:
    return settings_module() == PRODUCTION


def the_test_database_url() -> str | None:
    """The URL of the test database on PostgreSQL (a subprocess can reach
    it); None on SQLite, whose test database lives in this process."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    return database_url(connection.settings_dict)


def deployment_env() -> dict[str, str]:
    """This run's environment and settings module for a subprocess, pointed
    at the test database on PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_NAME"}
    env["DJANGO_SETTINGS_MODULE"] = settings_module()
    url = the_test_database_url()
    if url:
        env["DATABASE_URL"] = url
    return env


def production_env(**extra) -> dict[str, str]:
    """A production environment made up from scratch, for tests of the
    development pass that start a production process: a fresh secret key, a
    host name, the test database on PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "TEST_DATABASE_NAME"}
    env.update(DJANGO_SETTINGS_MODULE=PRODUCTION, DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
               DJANGO_ALLOWED_HOSTS="releases.example.com")
    url = the_test_database_url()
    if url:
        env["DATABASE_URL"] = url
    env.update(extra)
    return env
