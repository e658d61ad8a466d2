"""Vendor routing (signed webhooks out, signed updates in) and beat reminders."""
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from releases.models import InboundDelivery, OutboxMessage, Task, Vendor
from releases.scenario import Walker, new_release
from releases.services import task_create
from notifications.reminders import send_reminders
from notifications.tasks import deliver_outbox
from notifications.vendors import signed_headers, verify

pytestmark = pytest.mark.django_db

SECRET = "s3cret-shared-with-acme"


class VendorServer:
    """The vendor's ticketing system: checks our signature, keeps idempotency keys."""

    def __init__(self):
        self.accepted, self.replays, self.rejected = [], 0, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("Idempotency-Key")
                problem = verify(SECRET, method="POST", path=self.path, body=body, idempotency_key=key,
                                 timestamp=self.headers.get("X-Release-Timestamp"),
                                 signature=self.headers.get("X-Release-Signature"))
                if problem:
                    server.rejected += 1
                    self._answer(401, {"error": problem})
                elif key in {k for k, _ in server.accepted}:
                    server.replays += 1
                    self._answer(409, {"ticket": f"ACME-{json.loads(body)['task']}"})
                else:
                    server.accepted.append((key, json.loads(body)))
                    self._answer(200, {"ticket": f"ACME-{json.loads(body)['task']}"})

            def _answer(self, code, data):
                raw = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/tickets"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def vendor_server():
    server = VendorServer()
    yield server
    server.close()


def scheduled_with_vendor_task(actors, cis, vendor):
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("plan_approved")
    r = walker.release
    task = task_create(release_id=r.pk, by=actors.release_manager, title="Open firewall port", step=12,
                       assignee_vendor=vendor, planned_start=r.planned_start + timedelta(hours=4),
                       planned_end=r.planned_end - timedelta(hours=4))
    walker.to("scheduled")
    return walker.release, task


def test_schedule_routes_a_vendor_task_to_its_system_signed(actors, cis, vendor_server, make_vendor):
    vendor = make_vendor("Acme", integration_url=vendor_server.url, secret=SECRET)
    release, task = scheduled_with_vendor_task(actors, cis, vendor)
    row = OutboxMessage.objects.get(event="route_vendor_task", object_id=task.pk)
    assert row.channel == "webhook" and row.status == "pending"
    deliver_outbox()
    row.refresh_from_db()
    assert row.status == "sent"
    (key, body), = vendor_server.accepted
    assert key == row.dedupe_key and body["task"] == task.pk and body["release"] == release.number
    assert Task.objects.get(pk=task.pk).vendor_ticket_ref == f"ACME-{task.pk}"
    # A retry after a lost answer carries the same key: the vendor sees a replay, not a second ticket.
    from notifications.vendors import post_signed

    post_signed(vendor.integration_url, SECRET, row.payload["body"], row.dedupe_key)
    assert vendor_server.replays == 1 and len(vendor_server.accepted) == 1


def test_a_vendor_without_integration_gets_email(actors, cis):
    vendor = Vendor.objects.create(name="Beta", email="queue@beta.example")
    scheduled_with_vendor_task(actors, cis, vendor)
    deliver_outbox()
    assert any(m.to == ["queue@beta.example"] and "Open firewall port" in m.body for m in mail.outbox)


def test_an_unreachable_vendor_is_retried_then_marked_failed(actors, cis, make_vendor):
    vendor = make_vendor("Down", integration_url="http://127.0.0.1:9/nothing", secret=SECRET)
    _, task = scheduled_with_vendor_task(actors, cis, vendor)
    row = OutboxMessage.objects.get(event="route_vendor_task", object_id=task.pk)
    from notifications import tasks

    for _ in range(tasks.MAX_ATTEMPTS):
        row.refresh_from_db()
        row.next_attempt_at = None  # make the retry due now
        row.save()
        deliver_outbox()
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == tasks.MAX_ATTEMPTS and "unreachable" in row.last_error


def signed_post(client, vendor, payload, key, secret=SECRET, ts=None):
    body = json.dumps(payload).encode()
    path = f"/api/vendors/{vendor.pk}/inbound/"
    headers = signed_headers(secret, url=path, body=body, idempotency_key=key, timestamp=ts)
    return client.generic("POST", path, body, content_type="application/json", headers=headers)


def test_inbound_vendor_updates_are_signed_fresh_and_never_replayed(actors, cis, make_user, make_vendor):
    vendor_user = make_user("vendor", username="acme-bot")
    vendor = make_vendor("Acme", secret=SECRET)
    vendor.users.add(vendor_user)
    _, task = scheduled_with_vendor_task(actors, cis, vendor)
    client = APIClient()

    ok = signed_post(client, vendor, {"task": task.pk, "vendor_ticket_ref": "ACME-77", "transition": "start"}, "k1")
    assert ok.status_code == 200, ok.content
    assert ok.json() == {"task": task.pk, "state": "in_progress", "vendor_ticket_ref": "ACME-77"}

    replay = signed_post(client, vendor, {"task": task.pk, "transition": "complete"}, "k1")
    assert replay.status_code == 409 and replay.json()["code"] == "replayed"
    forged = signed_post(client, vendor, {"task": task.pk, "transition": "complete"}, "k2", secret="guess")
    assert forged.status_code == 401 and forged.json()["code"] == "bad_signature"
    stale = signed_post(client, vendor, {"task": task.pk, "transition": "complete"}, "k3", ts=int(time.time()) - 3600)
    assert stale.status_code == 401
    assert Task.objects.get(pk=task.pk).state == "in_progress"  # none of those changed anything
    assert InboundDelivery.objects.count() == 1

    other = task_create(release_id=task.release_id, by=actors.release_manager, title="Not theirs",
                        assignee_user=actors.deployment_team, planned_start=task.planned_start,
                        planned_end=task.planned_end)
    assert signed_post(client, vendor, {"task": other.pk, "transition": "start"}, "k4").status_code == 404
    bad = signed_post(client, vendor, {"task": "x"}, "k5")
    assert bad.status_code == 400
    done = signed_post(client, vendor, {"task": task.pk, "transition": "complete"}, "k6")
    assert done.status_code == 200 and done.json()["state"] == "done"


def test_reminders_escalate_overdue_tasks_and_chase_cab_votes(actors, cis, make_user, backdate_history):
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("scheduled")
    task = walker.release.tasks.get(step=4)
    from releases.models import TransitionLog
    from releases.services import task_update

    task_update(task_id=task.pk, by=actors.release_manager, planned_end=timezone.now() - timedelta(hours=1),
                planned_start=timezone.now() - timedelta(hours=5))
    pending = Walker(new_release(actors, title="Waiting for CAB", cis=[]), actors)
    pending.to("plan_submitted")
    log = TransitionLog.objects.get(object_id=pending.release.pk, content_type__model="release", name="submit_plan")
    log.at = timezone.now() - timedelta(days=3)  # the CAB has sat on it for three days
    with backdate_history():
        log.save()

    counts = send_reminders()
    assert counts["overdue"] >= 2  # the assignee and the release manager
    overdue = OutboxMessage.objects.filter(event="task_overdue")
    assert actors.release_manager.email in set(overdue.values_list("recipient", flat=True))
    assert counts["cab"] == len(actors.cab_members)
    again = send_reminders()  # the same day: nothing twice
    assert again == {"cab": 0, "due": 0, "overdue": 0, "downtime": 0}


@pytest.fixture
def broker_down(settings):
    from releasemgmt.celery import app

    saved = app.conf.task_always_eager, app.conf.broker_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    app.conf.broker_url = "redis://127.0.0.1:9/0"  # nothing listens there
    yield
    app.conf.task_always_eager, app.conf.broker_url = saved


def test_with_the_broker_down_a_transition_still_answers_and_waits_in_the_outbox(actors, cis, broker_down):
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("planning")
    walker.plan()
    from releases.services import release_transition

    started = time.monotonic()

    release_transition(release_id=walker.release.pk, name="submit_plan", by=actors.release_manager)
    assert time.monotonic() - started < 2
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"pending"}


def test_failed_deliveries_can_be_retried_from_the_admin(actors, cis, client, make_vendor):
    vendor = make_vendor("Down", integration_url="http://127.0.0.1:9/nothing", secret=SECRET)
    _, task = scheduled_with_vendor_task(actors, cis, vendor)
    row = OutboxMessage.objects.get(event="route_vendor_task", object_id=task.pk)
    row.status, row.attempts = "failed", 8  # as the relay leaves it after its last attempt
    row.save()
    actors.release_manager.is_staff = True
    actors.release_manager.save()
    client.force_login(actors.release_manager)
    page = client.get("/admin/releases/outboxmessage/?status__exact=failed")
    assert page.status_code == 200 and row.subject in page.content.decode()
    response = client.post("/admin/releases/outboxmessage/", {"action": "retry_delivery",
                                                              "_selected_action": [row.pk]}, follow=True)
    assert response.status_code == 200
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
