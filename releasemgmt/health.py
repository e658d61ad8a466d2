"""For operators and orchestrators: ``/healthz`` (the process answers) and
``/readyz`` (it can serve: the database answers, its migrations are applied,
and the broker answers, or tasks run in process because none is set).

Answered by the first middleware, before host validation, the HTTPS
redirect, sessions and logins: a health check comes from the orchestrator
over plain HTTP with whatever Host header it has, and must not create a
session, count as a login attempt or depend on the rate limiter. Nothing in
the answer is secret (which checks passed, not why in detail).
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse

log = logging.getLogger(__name__)

PATHS = {"/healthz", "/readyz"}
# Once this process has seen every migration applied, they stay applied
# (a new one comes with a new release of the code, hence a new process).
_migrated = False


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _migrations() -> str:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            return "pending"
        _migrated = True
    return "ok"


def _broker() -> str:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return "in process"  # no broker set: tasks run in the request (make run)
    from kombu import Connection

    # A connection of its own, not one from the producer pool, which may hold
    # a connection made while the broker was up.
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=settings.HEALTH_BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_BROKER_TIMEOUT_SECONDS)
    return "ok"


CHECKS = {"database": _database, "migrations": _migrations, "broker": _broker}


def readiness() -> tuple[bool, dict[str, str]]:
    results = {}
    for name, check in CHECKS.items():
        if name == "migrations" and results.get("database") != "ok":
            results[name] = "unknown"
            continue
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said, not raised
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = "unavailable"
            if name == "database":
                connection.close()  # a broken connection is not reused by the next check
    return all(v in ("ok", "in process") for v in results.values()), results


class HealthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path not in PATHS:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"detail": "Method not allowed.", "code": "method_not_allowed"}, status=405)
        if request.path == "/healthz":
            response = JsonResponse({"status": "alive"})
        else:
            ready, checks = readiness()
            response = JsonResponse({"status": "ready" if ready else "unready", "checks": checks},
                                    status=200 if ready else 503)
        response["Cache-Control"] = "no-store"
        return response
