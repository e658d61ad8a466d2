"""The application served by gunicorn, as users run it, against the test database.

Django's ``live_server`` is one process with one thread per request; races
that only show between worker *processes* (each with its own connection, its
own caches, its own idea of what it has read) need the real server. This
starts ``gunicorn releasemgmt.wsgi`` as a subprocess pointed at the database
pytest created, and stops it again whatever happens. It runs the settings
module of the test run (the production pass serves production settings) and
is reached as a TLS-terminating proxy in front of it would reach it: plain
HTTP with ``X-Forwarded-Proto: https``, which the production settings trust.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent.parent

# Variables of the test run that must not reach the server: with a broker (CI
# sets one) the outbox relay would wait for a Celery worker instead of running
# in process, and with a cache URL the workers would share Redis; the server
# needs nothing but PostgreSQL. The test database is what DATABASE_URL names.
DROPPED_ENV = ("CELERY_BROKER_URL", "REDIS_URL", "CACHE_URL", "TEST_DATABASE_NAME", "DATABASE_URL",
               "DJANGO_SETTINGS_MODULE")


def database_url(settings_dict: dict) -> str:
    """The URL of the database a Django connection uses (pytest's test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class LiveServer:
    host: str
    port: int
    process: subprocess.Popen
    log: object  # the file gunicorn's stderr goes to

    def request(self, method: str, path: str, *, token: str | None = None, body=None,
                timeout: float = 120) -> Response:
        """One request on its own connection (as separate clients would)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-Forwarded-Proto": "https"}
        if token:
            headers["Authorization"] = f"Token {token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=json.dumps(body if body is not None else {}), headers=headers)
            answer = conn.getresponse()
            return Response(answer.status, answer.read(), dict(answer.getheaders()))
        finally:
            conn.close()

    def stderr(self, limit: int = 20000) -> str:
        """What gunicorn and the application logged so far (its tail)."""
        self.log.flush()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return text[-limit:]


@contextlib.contextmanager
def gunicorn(settings_dict: dict, *, workers: int = 4, threads: int = 4, env: dict | None = None,
             cache_url: str | None = None, broker_url: str | None = None, startup_timeout: float = 60):
    """Serve the project with gunicorn on a free loopback port; yields a ``LiveServer``.

    ``cache_url`` points the workers' shared cache at a Redis (the test's
    own, so that it may stop it), ``broker_url`` the Celery broker; without
    them the workers need nothing but PostgreSQL."""
    from .deployment import settings_module

    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    if cache_url:
        child_env["CACHE_URL"] = cache_url
    if broker_url:
        child_env["CELERY_BROKER_URL"] = broker_url
    child_env.update({
        "DJANGO_SETTINGS_MODULE": settings_module(),
        "DATABASE_URL": database_url(settings_dict),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # Notifications are delivered in process after each commit; keep
        # them in memory rather than on the console or an SMTP server.
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        # Errors only: the 49 refusals per release are expected and would bury
        # the traceback of a 500 in the failure message.
        "LOG_LEVEL": "ERROR",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    })
    log = tempfile.TemporaryFile()
    cmd = [sys.executable, "-m", "gunicorn", "releasemgmt.wsgi:application",
           "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
           "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "10",
           "--error-logfile", "-", "--log-level", "warning"]
    process = subprocess.Popen(cmd, cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = LiveServer("127.0.0.1", port, process, log)
    try:
        _wait_until_serving(server, startup_timeout)
        yield server
    finally:
        _stop(process)
        log_text = server.stderr()
        log.close()
        server.stderr = lambda limit=20000: log_text[-limit:]


def _wait_until_serving(server: LiveServer, timeout: float) -> None:
    """Until every worker could answer: the API's JSON 404 needs no login,
    and a few answers in a row mean the workers have booted."""
    deadline = time.monotonic() + timeout
    answered = 0
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{server.stderr()}")
        try:
            if server.request("GET", "/api/no-such-endpoint/", timeout=5).status == 404:
                answered += 1
                if answered >= 3:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{server.stderr()}")


def _stop(process: subprocess.Popen) -> None:
    """TERM the master (it stops its workers), KILL the group if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        # start_new_session made the master the leader of its own group:
        # this reaches its workers, and nothing else.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
