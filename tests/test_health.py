"""/healthz and /readyz, as an orchestrator (docker-compose's health check,
a load balancer) asks them: plain HTTP, any Host header, no login."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from releasemgmt import health
from tests.helpers import free_port


@pytest.fixture(autouse=True)
def _fresh_migration_check():
    health._migrated = False
    yield
    health._migrated = False


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["releases.example.com"], SECURE_SSL_REDIRECT=True)
def test_both_answer_over_plain_http_whatever_the_host(client):
    alive = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    ready = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {"database", "migrations", "broker"}
    assert ready["Cache-Control"] == "no-store" and not ready.cookies
    assert client.post("/readyz", HTTP_HOST="10.0.0.7:8000").status_code == 405


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a database server that can be down")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_unready_while_the_database_is_down_and_ready_when_it_returns(client):
    real = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))  # nothing listens there
    try:
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json() == {"status": "unready",
                               "checks": {"database": "unavailable", "migrations": "unknown",
                                          "broker": down.json()["checks"]["broker"]}}
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(real)
    back = client.get("/readyz")
    assert back.status_code == 200 and back.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_unready_while_migrations_are_pending(client, monkeypatch):
    # A migration not yet applied, as the executor reports one (migrating the test database back and
    # forth here would disturb the transactional tests that restore it).
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("reports.0004", False)])
    pending = client.get("/readyz")
    assert pending.status_code == 503 and pending.json()["checks"]["migrations"] == "pending"


@pytest.mark.django_db
def test_unready_while_the_broker_is_unreachable(client):
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, HEALTH_BROKER_TIMEOUT_SECONDS=0.5,
                           CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):
        unready = client.get("/readyz")
    assert unready.status_code == 503 and unready.json()["checks"]["broker"] == "unavailable"
    # With no broker set, tasks run in process (make run): ready.
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        assert client.get("/readyz").json()["checks"]["broker"] == "in process"
