"""The outbox delivered by real Celery processes through a real Redis.

Each test starts its own services and stops them again, by pid:

* a ``redis-server`` on a free loopback port (no persistence), which a test
  can stop and restart on the same port;
* Celery workers (``--pool=solo``) and Celery beat (``OUTBOX_RELAY_SECONDS=1``)
  as subprocesses of this test, with ``DATABASE_URL`` pointing at the *test*
  database pytest-django created, the broker at that Redis, and mail written
  to files in a temporary directory so the test can count what went out.

Beat triggers the relay, as in production; the test process never publishes a
task (it checks that nothing on the request path does).

Outside CI these tests are skipped without PostgreSQL or a ``redis-server``
binary; in CI (``CI=true``) they fail instead.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from releases.models import OutboxMessage, Task
from releases.scenario import Walker, new_release
from releases.services import release_transition, task_create
from notifications.tasks import message_id
from notifications.vendors import post_signed, signed_headers, verify
from tests.helpers import IN_CI, free_port, unavailable
from tests.signatures import PASSWORD

from .mailbox import read_messages


@pytest.fixture(autouse=True)
def _step_notices_only(monkeypatch):
    """These tests count the messages of the steps' own notices as the worker
    delivers them; what waits on people (notifications.queue) is told in
    tests/notify/test_queue_notices.py."""
    monkeypatch.setattr("notifications.queue.tell", lambda *args, **kwargs: 0)


SIGNED = {"signature": {"password": PASSWORD}}  # a CAB vote and the approval are signed


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.real_worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    # Skip early (before the test database is built) on a laptop without Redis;
    # in CI the redis_server fixture fails instead.
    pytest.mark.skipif(not IN_CI and not shutil.which("redis-server"), reason="needs the redis-server binary"),
]
ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-shared-with-acme"
LEASE_SECONDS = 5


def wait_for(predicate, timeout: float, what: str, *, diagnostics=None, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{diagnostics()}" if diagnostics else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


class Clock:
    """Phase timings, printed: pytest shows them when a test fails (or with -s)."""

    def __init__(self):
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def __call__(self, what: str) -> float:
        elapsed = self.elapsed()
        print(f"[{elapsed:6.2f} s] {what}")
        return elapsed


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path.name}: no log)"
    return f"--- {path.name} ---\n" + "\n".join(text[-lines:])


def stop_pid(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL: by this process's pid only."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


# --- Redis -----------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on 127.0.0.1:<free port>, without persistence."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.pidfile = self.dir / "redis.pid"
        self.log = self.dir / "redis.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.pidfile.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.dir), "--pidfile", str(self.pidfile),
             "--logfile", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_for(lambda: self.ping() or self.proc.poll() is not None, 10, f"redis-server on port {self.port}")
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}\n{tail(self.log)}")
        wait_for(lambda: self.pidfile.exists() and self.pidfile.read_text().strip(), 5, "redis pidfile")
        assert int(self.pidfile.read_text()) == self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc)
        assert not self.ping(), "something still answers on the Redis port"


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of the test's own (tests/integration/test_hung_redis.py uses it too)."""
    binary = shutil.which("redis-server")
    if not binary:
        unavailable("needs the redis-server binary")
    server = RedisServer(binary, tmp_path / "redis")
    try:
        server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        server.stop()


# --- Celery processes ------------------------------------------------------------------------


class CeleryProcess:
    def __init__(self, kind: str, name: str, args: list[str], env: dict, log: Path):
        self.kind, self.name, self.log = kind, name, log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "releasemgmt", *args], cwd=ROOT,
                                     env=env, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, marker: str, timeout: float = 60) -> None:
        wait_for(lambda: marker in self.text() or self.proc.poll() is not None, timeout,
                 f"{self.kind} {self.name} to log {marker!r}", diagnostics=lambda: tail(self.log))
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.kind} {self.name} exited with {self.proc.returncode}\n{tail(self.log)}")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a lost node would."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        try:
            stop_pid(self.proc)
        finally:
            self._out.close()


class Cluster:
    """The worker side: workers and beat against the test database and our Redis."""

    def __init__(self, tmp: Path, redis: RedisServer):
        self.tmp = tmp
        self.redis = redis
        self.maildir = tmp / "mail"
        self.maildir.mkdir()
        self.procs: list[CeleryProcess] = []
        db = connection.settings_dict
        assert connection.vendor == "postgresql"
        # The database pytest-django created for this session, never the real one.
        self.db_name = db["NAME"]
        assert self.db_name.startswith("test_") or self.db_name == os.environ.get("TEST_DATABASE_NAME"), self.db_name
        auth = urllib.parse.quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + urllib.parse.quote(db["PASSWORD"], safe="")
        self.db_url = (f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                       f"{urllib.parse.quote(self.db_name, safe='')}")

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_NAME"}}
        env.update({
            "DJANGO_SETTINGS_MODULE": "releasemgmt.settings",
            "DATABASE_URL": self.db_url,
            "CELERY_BROKER_URL": self.redis.url,
            "REDIS_URL": self.redis.url,
            # Django's file-based backend; the subclass only reads EMAIL_FILE_PATH from the environment.
            "EMAIL_BACKEND": "tests.integration.mailbox.EmailBackend",
            "EMAIL_FILE_PATH": str(self.maildir),
            "OUTBOX_RELAY_SECONDS": "1",
            # A killed worker's message is due again this soon (production: 60 s).
            "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def worker(self, name: str, **env) -> CeleryProcess:
        proc = CeleryProcess("worker", name, [
            "worker", "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-l", "info", "-n", f"{name}@%h"], {**self.env(), **env}, self.tmp / f"{name}.log")
        self.procs.append(proc)
        proc.wait_ready(" ready.")
        return proc

    def beat(self) -> CeleryProcess:
        proc = CeleryProcess("beat", "beat", [
            "beat", "-l", "info", "-s", str(self.tmp / "beat-schedule"), "--pidfile", str(self.tmp / "beat.pid")],
            self.env(), self.tmp / "beat.log")
        self.procs.append(proc)
        proc.wait_ready("beat: Starting...")
        return proc

    def mails(self):
        return read_messages(self.maildir)

    def logs(self) -> str:
        return "\n".join([tail(p.log) for p in self.procs] + [tail(self.redis.log, 10)])

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def _reset_pools(app) -> None:
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def cluster(redis_server, tmp_path, settings, monkeypatch):
    """Workers and beat on demand; the test process's Celery app points at the
    same Redis and publishes for real (not eagerly) while the test runs."""
    from releasemgmt.celery import app

    # Celery reads CELERY_BROKER_URL from the environment before its own
    # configuration (CI exports it for the shared Redis): point it here too.
    monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    # With a broker configured, the relay never runs in the web process.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    saved = {"broker_url": app.conf.broker_url, "task_always_eager": app.conf.task_always_eager}
    _reset_pools(app)
    app.conf.broker_url = redis_server.url
    app.conf.task_always_eager = False
    c = Cluster(tmp_path, redis_server)
    try:
        yield c
    finally:
        c.stop_all()  # before pytest-django flushes the database the workers used
        _reset_pools(app)
        app.conf.update(saved)


def outbox_statuses() -> Counter:
    return Counter(OutboxMessage.objects.values_list("status", flat=True))


def all_sent(expected: int):
    def check():
        return outbox_statuses() == Counter({"sent": expected})
    return check


def assert_each_sent_once(rows) -> None:
    for row in rows:
        assert row.status == "sent" and row.sent_at, row
        assert row.attempts == 1, (row, row.attempts, row.last_error)
        assert OutboxMessage.history.filter(id=row.pk, status="sent").count() == 1, row


def mail_keys(messages) -> list[tuple[str, str, str]]:
    return [(str(m["To"]), str(m["X-Release-Event"]), str(m["Subject"])) for m in messages]


# --- 1. a transition's notifications, delivered by a real worker -------------------------------


def test_a_transitions_notifications_are_delivered_by_a_real_worker_through_redis(actors, cis, cluster):
    clock = Clock()
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("planning")
    walker.plan()
    worker = cluster.worker("w1")
    clock("worker ready")

    release_transition(release_id=walker.release.pk, name="submit_plan", by=actors.release_manager)

    rows = OutboxMessage.objects.filter(release=walker.release, event="submit_plan")
    cab = sorted(u.email for u in actors.cab_members)
    assert sorted(rows.values_list("recipient", flat=True)) == cab
    assert outbox_statuses() == Counter({"pending": len(cab)})  # the commit did not deliver anything itself
    time.sleep(1.5)
    assert outbox_statuses() == Counter({"pending": len(cab)})  # and an idle worker has nothing to do until...

    cluster.beat()  # ... beat triggers the relay, as in production
    clock("beat ready")
    wait_for(all_sent(len(cab)), 30, "the worker to deliver the CAB notifications", diagnostics=cluster.logs)
    clock(f"{len(cab)} messages delivered")

    messages = cluster.mails()
    assert len(messages) == len(cab)
    assert sorted(str(m["To"]) for m in messages) == cab
    assert all("awaits your CAB vote" in str(m["Subject"]) for m in messages)
    assert all(m.get_body(("html",)) is not None for m in messages)  # the HTML part travelled too
    assert_each_sent_once(rows)
    assert "releases.tasks.deliver_outbox" in worker.text()  # the worker did it, not this process


# --- 2. Redis down: the web app answers; the backlog is delivered once, after ------------------


def test_with_redis_down_the_api_answers_and_the_backlog_is_delivered_exactly_once(
        actors, cis, cluster, redis_server):
    from celery.signals import before_task_publish
    from kombu.exceptions import OperationalError

    from releasemgmt.celery import app
    from notifications.tasks import deliver_outbox

    clock = Clock()
    walkers = [Walker(new_release(actors, cis=cis, title=f"Release {n}"), actors) for n in (1, 2)]
    for w in walkers:
        w.to("planning")
    cluster.worker("w1")
    cluster.beat()
    assert outbox_statuses() == Counter()

    clock("worker and beat ready")
    redis_server.stop()
    assert not redis_server.ping()
    clock("Redis stopped")

    published = []

    def record(sender=None, **kwargs):
        published.append(sender)

    before_task_publish.connect(record, weak=False)
    rm = APIClient()
    rm.force_authenticate(actors.release_manager)
    cab = [APIClient() for _ in actors.cab_members]
    for client, member in zip(cab, actors.cab_members):
        client.force_authenticate(member)
    timings = []

    def call(client, method, url, data=None, expect=200):
        started = time.monotonic()
        if method == "get":
            response = client.get(url)
        else:
            response = getattr(client, method)(url, data, format="json")
        elapsed = time.monotonic() - started
        timings.append((f"{method.upper()} {url}", elapsed))
        assert response.status_code == expect, (url, response.status_code, response.content[:500])
        assert elapsed < 2, f"{method.upper()} {url} took {elapsed:.2f} s with Redis down"
        return response

    try:
        for w in walkers:
            r = w.release
            start = r.planned_start + timedelta(hours=2)
            base = f"/api/releases/{r.pk}"
            call(rm, "post", f"{base}/plans/", {
                "scope": "Components listed in the release scope.", "deployment_start": start.isoformat(),
                "deployment_end": (r.planned_end - timedelta(hours=2)).isoformat(),
                "deployment_approach": "Rolling deployment.", "risks": "Low.", "teams": "Build and deploy."},
                expect=201)
            call(rm, "post", f"{base}/transitions/submit_plan/", {})
            for client in cab[:2]:
                call(client, "post", f"{base}/votes/", {"decision": "approve", "comment": "Fine.", **SIGNED},
                     expect=201)
            call(cab[0], "post", f"{base}/transitions/approve_plan/", SIGNED)
            call(rm, "get", f"{base}/")
        call(rm, "get", "/api/releases/")
    finally:
        before_task_publish.disconnect(record)
    clock(f"{len(timings)} API calls, slowest {max(t for _, t in timings):.2f} s")

    assert published == []  # nothing on the request path published a task
    # Each release: one message per CAB member (submit_plan), one to the release manager (approve_plan).
    expected = 2 * (len(actors.cab_members) + 1)
    assert outbox_statuses() == Counter({"pending": expected})
    # The broker really is unreachable from here: a request that published would have
    # failed (after the client's own connection retries, several seconds here).
    with pytest.raises(OperationalError):
        deliver_outbox.apply_async(retry=False)
    _reset_pools(app)
    assert outbox_statuses() == Counter({"pending": expected})

    redis_server.start()  # same port, empty: whatever beat published before is gone; the outbox is not
    back = clock("Redis restarted")
    wait_for(all_sent(expected), 60, "the backlog to be delivered after Redis came back",
             diagnostics=cluster.logs)
    clock(f"backlog of {expected} delivered, {clock.elapsed() - back:.2f} s after the restart")
    time.sleep(3)  # a few more relay runs: nothing goes out twice

    rows = list(OutboxMessage.objects.all())
    assert len(rows) == expected
    assert_each_sent_once(rows)
    assert len({r.dedupe_key for r in rows}) == expected
    messages = cluster.mails()
    keys = mail_keys(messages)
    assert len(messages) == expected
    assert len(set(keys)) == expected, [k for k, n in Counter(keys).items() if n > 1]
    assert sorted((r.recipient, r.event, r.subject) for r in rows) == sorted(keys)


# --- 3. a worker killed mid-batch: no webhook lost, none duplicated -----------------------------


class VendorStub:
    """The vendor's ticketing system: checks the signature, keeps idempotency
    keys (a replay gets 409 and the ticket it already has), takes ~20 ms a
    request, and can hold the answer to request number ``hold_at`` until the
    test lets it go."""

    def __init__(self, secret: str, *, delay: float = 0.02, hold_at: int | None = None):
        self.secret, self.delay, self.hold_at = secret, delay, hold_at
        self.lock = threading.Lock()
        self.tickets: dict[str, str] = {}  # idempotency key -> ticket
        self.accepted: list[str] = []  # one entry per 200 answer
        self.replays: list[str] = []  # one entry per 409 answer
        self.rejected: list[str] = []  # 401/400 answers, why
        self.requests = 0
        self.held_key: str | None = None
        self.held = threading.Event()
        self.let_go = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key")
                problem = verify(stub.secret, method="POST", path=self.path, body=body, idempotency_key=key,
                                 timestamp=self.headers.get("X-Release-Timestamp"),
                                 signature=self.headers.get("X-Release-Signature"))
                if problem or not key:
                    with stub.lock:
                        stub.rejected.append(problem or "no idempotency key")
                    return self._answer(401 if problem else 400, {"error": problem or "Idempotency-Key missing"})
                with stub.lock:
                    stub.requests += 1
                    n = stub.requests
                    if key in stub.tickets:
                        stub.replays.append(key)
                        code = 409
                    else:
                        stub.tickets[key] = f"T-{len(stub.tickets) + 1}"
                        stub.accepted.append(key)
                        code = 200
                    ticket = stub.tickets[key]
                if n == stub.hold_at:  # accepted, but the sender never hears so
                    stub.held_key = key
                    stub.held.set()
                    stub.let_go.wait(60)
                time.sleep(stub.delay)
                self._answer(code, {"ticket": ticket} if code == 200 else {"ticket": ticket, "detail": "replay"})

            def _answer(self, code, data):
                raw = json.dumps(data).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:  # the sender died meanwhile
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/tickets"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.let_go.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def raw_post(url: str, body: bytes, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own stub
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


N_TASKS = 200


def test_a_worker_killed_mid_batch_loses_no_webhook_and_duplicates_none(actors, cis, cluster, make_vendor):
    stub = VendorStub(SECRET, hold_at=N_TASKS // 3)
    try:
        _killed_mid_batch(actors, cis, cluster, stub, make_vendor)
    finally:
        stub.close()


def _killed_mid_batch(actors, cis, cluster, stub, make_vendor):
    clock = Clock()
    vendor = make_vendor("Acme", integration_url=stub.url, secret=SECRET)
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("plan_approved")
    r = walker.release
    for n in range(N_TASKS):
        task_create(release_id=r.pk, by=actors.release_manager, title=f"Vendor activity {n + 1}",
                    step=12 if n % 2 else 4, assignee_vendor=vendor,
                    planned_start=r.planned_start + timedelta(hours=3), planned_end=r.planned_end - timedelta(hours=3))
    walker.to("scheduled")  # routes every vendor task to the vendor's system, through the outbox

    hooks = OutboxMessage.objects.filter(channel="webhook")
    mails = OutboxMessage.objects.exclude(channel="webhook")
    assert hooks.count() == N_TASKS and set(hooks.values_list("status", flat=True)) == {"pending"}
    n_mail = mails.count()
    assert n_mail > 0  # the schedule's calendar mails; they go first (by id), before the kill
    keys = set(hooks.values_list("dedupe_key", flat=True))
    assert len(keys) == N_TASKS
    clock(f"{N_TASKS} vendor tasks scheduled: {N_TASKS} webhooks and {n_mail} mails pending")

    first = cluster.worker("w1")
    cluster.beat()
    wait_for(stub.held.is_set, 90, f"request {stub.hold_at} to reach the vendor", diagnostics=cluster.logs)
    # The vendor has accepted request hold_at; the worker is waiting for its answer.
    clock(f"vendor holds request {stub.hold_at}")
    first.kill()
    stub.let_go.set()
    clock("first worker killed (SIGKILL)")
    assert first.proc.returncode == -signal.SIGKILL

    held_row = hooks.get(dedupe_key=stub.held_key)
    assert held_row.status == "sending" and held_row.attempts == 1  # claimed before it was sent
    delivered_before = hooks.filter(status="sent").count()
    assert delivered_before == stub.hold_at - 1, delivered_before  # killed mid-batch, not before nor after
    assert len(stub.accepted) == stub.hold_at

    second = cluster.worker("w2")
    clock("second worker ready")
    wait_for(all_sent(N_TASKS + n_mail), 120, "a new worker to deliver the rest", diagnostics=cluster.logs)
    clock(f"all delivered; vendor: {len(stub.accepted)} accepted, {len(stub.replays)} replayed")
    time.sleep(2)  # more relay runs find nothing to do

    # None lost: every row sent, every task has the ticket the vendor issued for its key.
    assert outbox_statuses() == Counter({"sent": N_TASKS + n_mail})
    tickets = dict(Task.objects.filter(assignee_vendor=vendor).values_list("pk", "vendor_ticket_ref"))
    assert len(tickets) == N_TASKS
    for row in hooks:
        assert tickets[row.object_id] == stub.tickets[row.dedupe_key], row
    assert len(set(tickets.values())) == N_TASKS
    # None duplicated: the vendor accepted each key exactly once; the one delivery the
    # killed worker never heard back from was replayed once and answered 409.
    assert len(stub.accepted) == N_TASKS and set(stub.accepted) == keys
    assert stub.replays == [stub.held_key]
    assert stub.rejected == []
    assert hooks.get(dedupe_key=stub.held_key).attempts == 2  # once by each worker
    assert "releases.tasks.deliver_outbox" in second.text()
    # The calendar mails went out once each, all before the kill.
    messages = cluster.mails()
    assert len(messages) == n_mail and len(set(mail_keys(messages))) == n_mail

    # The vendor's side of the contract, directly: a wrong signature is refused...
    body = json.dumps({"task": 1}).encode()
    ts = int(time.time())
    for headers in (signed_headers("not-the-secret", url=stub.url, body=body, idempotency_key="probe-1"),
                    signed_headers(SECRET, url=stub.url, body=body, idempotency_key="probe-2", timestamp=ts - 3600),
                    {"Idempotency-Key": "probe-3"}):
        status, answer = raw_post(stub.url, body, headers)
        assert status == 401 and answer["error"], (headers, status, answer)
    assert len(stub.rejected) == 3 and len(stub.accepted) == N_TASKS
    # ... and a replayed key gets 409 with the ticket it already has, which the sender takes as delivered.
    status, answer = raw_post(stub.url, body, signed_headers(SECRET, url=stub.url, body=body,
                                                             idempotency_key=stub.held_key, timestamp=ts))
    assert status == 409 and answer["ticket"] == stub.tickets[stub.held_key]
    assert post_signed(stub.url, SECRET, {"task": 1}, stub.held_key) == answer
    assert len(stub.accepted) == N_TASKS and stub.replays == [stub.held_key] * 3


# --- 4. a worker killed mid-send, again and again: each kill repeats at most one mail ----------

KILLS = 3
MAILS_PER_WORKER = 40  # each killed worker sends this many, then hangs right after the last went out


def test_a_worker_killed_mid_send_repeats_at_most_its_message_with_the_same_message_id(actors, cis, cluster):
    from notifications.notices import CAB, enqueue

    clock = Clock()
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    batches = 100
    for n in range(batches):  # one message per CAB member and batch, each its own occurrence
        enqueue(release, event="cab_vote_reminder", occurrence=f"batch-{n}", audiences=(CAB,),
                extra=f"Batch message {n}.")
    rows = {row.dedupe_key: row for row in OutboxMessage.objects.all()}
    total = len(rows)
    assert total == batches * len(actors.cab_members) > (KILLS + 1) * MAILS_PER_WORKER
    ids = {message_id(row): row for row in rows.values()}
    assert len(ids) == total  # one Message-ID per occurrence and recipient
    clock(f"{total} mails pending")

    held_dir = cluster.tmp / "held"
    held_dir.mkdir()
    held = []  # (Message-ID, recipient) of the mail each killed worker had in flight
    cluster.beat()
    for k in range(1, KILLS + 1):
        worker = cluster.worker(f"w{k}", EMAIL_HOLD_AFTER=str(MAILS_PER_WORKER), EMAIL_HOLD_DIR=str(held_dir))
        marker = held_dir / f"{worker.pid}.json"
        wait_for(marker.exists, 90, f"worker w{k} to send {MAILS_PER_WORKER} mails", diagnostics=cluster.logs)
        in_flight = json.loads(marker.read_text())
        worker.kill()
        assert worker.proc.returncode == -signal.SIGKILL
        row = ids[in_flight["message_id"]]
        row.refresh_from_db()
        # It went out, and the row still says so only as a lease: claimed and committed before the send.
        assert row.status == "sending" and row.lease_until and row.recipient == in_flight["to"], row
        held.append((in_flight["message_id"], in_flight["to"]))
        clock(f"worker w{k} killed mid-send; {outbox_statuses()}")
    assert len(set(held)) == KILLS

    last = cluster.worker("w-last")
    wait_for(all_sent(total), 90, "the last worker to deliver the rest", diagnostics=cluster.logs)
    clock("all sent")
    time.sleep(2)  # more relay runs: nothing goes out again

    # None lost: every row sent, every Message-ID in the mailbox.
    assert outbox_statuses() == Counter({"sent": total})
    messages = cluster.mails()
    by_id = Counter(str(m["Message-ID"]) for m in messages)
    assert set(by_id) == set(ids)
    # Duplicates: at most one per kill, exactly the mails in flight at the kills,
    # and each copy carries the Message-ID of its first delivery.
    repeats = {mid: n for mid, n in by_id.items() if n > 1}
    assert sum(n - 1 for n in repeats.values()) <= KILLS
    assert set(repeats) == {mid for mid, _ in held} and set(repeats.values()) == {2}
    copies: dict[tuple[str, str], set[str]] = {}
    for m in messages:  # the same mail (recipient, batch) always has the same Message-ID
        batch = next(line for line in m.get_body(("plain",)).get_content().splitlines() if "Batch message" in line)
        copies.setdefault((str(m["To"]), batch), set()).add(str(m["Message-ID"]))
    assert len(copies) == total and all(len(found) == 1 for found in copies.values())
    for mid, row in ids.items():
        row.refresh_from_db()
        assert row.attempts == (2 if mid in repeats else 1), row
    assert "releases.tasks.deliver_outbox" in last.text()
