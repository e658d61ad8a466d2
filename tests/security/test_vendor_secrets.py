"""Vendor integration secrets: write-only, rotated with an overlap, and an
inbound signature that covers the method, path, timestamp, idempotency key
and body (so a captured update cannot be replayed under a new key)."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from releasemgmt.workflow import TransitionForbidden
from releases import services, vendor_services
from releases.models import InboundDelivery, RefusedAttempt, Task, Vendor
from releases.scenario import Walker, new_release
from notifications.vendors import post_signed, sign, signed_headers, verify

from .clients import APIClient

pytestmark = pytest.mark.django_db

SECRET = "s3cret-shared-with-acme-0123456789"


def change_url(vendor):
    return reverse("admin:releases_vendor_change", args=[vendor.pk])


def changelist_url():
    return reverse("admin:releases_vendor_changelist")


# --- write-only ------------------------------------------------------------------------


def test_whoever_may_view_a_vendor_sees_its_fingerprint_never_its_secret(client, make_user, make_vendor,
                                                                        django_user_model):
    superuser = django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345")
    vendor = make_vendor("Acme", integration_url="https://acme.example/api", secret=SECRET)
    vendor_services.vendor_secret_rotate(vendor_id=vendor.pk, by=superuser, overlap=timedelta(hours=1))
    vendor.refresh_from_db()
    current = vendor.signing_secret()
    viewer = make_user("release_manager", is_staff=True)  # may view vendors, may not change them
    for user in (viewer, superuser):
        client.force_login(user)
        for url in (change_url(vendor), changelist_url(),
                    reverse("admin:releases_vendor_history", args=[vendor.pk])):
            response = client.get(url)
            assert response.status_code == 200, (user, url)
            page = response.content.decode()
            assert SECRET not in page and current not in page, (user, url)
        page = client.get(change_url(vendor)).content.decode()
        assert vendor.secret_fingerprint in page and vendor.previous_secret_fingerprint in page
    # Not in clear in the database either (sealed with a key derived from SECRET_KEY).
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_sealed, previous_secret_sealed FROM releases_vendor WHERE id = %s",
                       [vendor.pk])
        stored = " ".join(cursor.fetchone())
    assert SECRET not in stored and current not in stored


def test_a_new_vendors_secret_is_shown_once_when_it_is_created(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345")
    client.force_login(admin_user)
    response = client.post(reverse("admin:releases_vendor_add"), {
        "name": "Acme", "email": "", "integration_url": "https://acme.example/api", "generate_secret": "on"})
    assert response.status_code == 200, response.content.decode()[:2000]
    vendor = Vendor.objects.get(name="Acme")
    secret = vendor.signing_secret()
    assert len(secret) >= 32
    page = response.content.decode()
    assert secret in page and vendor.secret_fingerprint in page
    assert f"/api/vendors/{vendor.pk}/inbound/" in page
    assert "no-store" in response["Cache-Control"]
    # Once: the vendor's page afterwards shows the fingerprint only.
    again = client.get(change_url(vendor)).content.decode()
    assert secret not in again and vendor.secret_fingerprint in again


# --- rotation ------------------------------------------------------------------------------


def test_rotation_shows_the_new_secret_once_and_keeps_the_old_one_valid_for_the_overlap(
        client, django_user_model, make_vendor, settings, monkeypatch):
    settings.VENDOR_SECRET_OVERLAP_HOURS = 24
    vendor = make_vendor("Acme", integration_url="https://acme.example/hook", secret=SECRET)
    old_fingerprint = vendor.secret_fingerprint
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345"))
    response = client.post(changelist_url(), {"action": "rotate_secret", "_selected_action": [vendor.pk]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    vendor.refresh_from_db()
    new = vendor.signing_secret()
    assert new != SECRET and new in response.content.decode()
    assert vendor.previous_secret_fingerprint == old_fingerprint
    assert timedelta(hours=23) < vendor.previous_secret_valid_until - timezone.now() <= timedelta(hours=24)
    assert new not in client.get(change_url(vendor)).content.decode()

    # Inbound: both secrets verify during the window...
    assert set(vendor.verification_secrets()) == {SECRET, new}
    # ...and only the new one after it.
    later = vendor.previous_secret_valid_until + timedelta(seconds=1)
    assert vendor.verification_secrets(now=later) == [new]

    # Outbound: signed with the new secret only.
    sent = {}

    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b'{"ticket": "ACME-1"}'

    def fake_urlopen(request, timeout):
        sent.update(headers=dict(request.header_items()), body=request.data, path=request.selector,
                    method=request.get_method())
        return Answer()

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    assert post_signed(vendor.integration_url, vendor.signing_secret(), {"task": 1}, "key-1") == {"ticket": "ACME-1"}
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    for secret, ok in ((new, True), (SECRET, False)):
        problem = verify(secret, method=sent["method"], path=sent["path"], body=sent["body"],
                         timestamp=headers["x-release-timestamp"], idempotency_key=headers["idempotency-key"],
                         signature=headers["x-release-signature"])
        assert (problem == "") is ok, problem


def test_only_who_may_change_vendors_rotates_their_secrets(client, make_user, make_vendor):
    vendor = make_vendor("Acme", secret=SECRET)
    viewer = make_user("release_manager", is_staff=True)
    client.force_login(viewer)
    response = client.post(changelist_url(), {"action": "rotate_secret", "_selected_action": [vendor.pk]})
    assert response.status_code in (200, 302)
    vendor.refresh_from_db()
    assert vendor.signing_secret() == SECRET and not vendor.previous_secret_sealed
    with pytest.raises(TransitionForbidden):
        vendor_services.vendor_secret_rotate(vendor_id=vendor.pk, by=viewer)
    vendor.refresh_from_db()
    assert vendor.signing_secret() == SECRET
    refusal = RefusedAttempt.objects.get(action="rotate_secret")
    assert refusal.by == viewer and refusal.object_id == vendor.pk


def test_removing_the_secret_revokes_current_and_previous_at_once(django_user_model, make_vendor):
    vendor = make_vendor("Acme", secret=SECRET)
    root = django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345")
    vendor_services.vendor_secret_rotate(vendor_id=vendor.pk, by=root)
    vendor_services.vendor_secret_remove(vendor_id=vendor.pk, by=root)
    vendor.refresh_from_db()
    assert not vendor.has_secret and vendor.verification_secrets() == []


# --- what the inbound signature covers -----------------------------------------------------


@pytest.fixture
def vendor_task(actors, cis, make_user, make_vendor):
    vendor_user = make_user("vendor", username="acme-bot")
    vendor = make_vendor("Acme", secret=SECRET)
    vendor.users.add(vendor_user)
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("plan_approved")
    r = walker.release
    task = services.task_create(release_id=r.pk, by=actors.release_manager, title="Open firewall port", step=12,
                                assignee_vendor=vendor, planned_start=r.planned_start + timedelta(hours=4),
                                planned_end=r.planned_end - timedelta(hours=4))
    walker.to("scheduled")
    services.task_transition(task_id=task.pk, name="start", by=vendor_user)
    return vendor, Task.objects.get(pk=task.pk)


def inbound(vendor):
    return f"/api/vendors/{vendor.pk}/inbound/"


def post(path, body, headers):
    return APIClient().generic("POST", path, body, content_type="application/json", headers=headers)


def test_a_captured_update_resent_under_a_new_key_is_refused(vendor_task):
    vendor, task = vendor_task
    body = json.dumps({"task": task.pk, "transition": "block", "reason": "Waiting for the change window"}).encode()
    captured = signed_headers(SECRET, url=inbound(vendor), body=body, idempotency_key="acme-1")
    assert post(inbound(vendor), body, captured).status_code == 200
    task.refresh_from_db()
    assert task.state == "blocked"
    services.task_transition(task_id=task.pk, name="unblock", by=vendor.users.get())

    again = post(inbound(vendor), body, captured)  # the same key: a replay
    assert again.status_code == 409 and again.json()["code"] == "replayed"
    replayed = post(inbound(vendor), body, {**captured, "Idempotency-Key": "acme-2"})  # a new key
    assert replayed.status_code == 401 and replayed.json()["code"] == "bad_signature"
    task.refresh_from_db()
    assert task.state == "in_progress"  # neither replay blocked it again
    assert InboundDelivery.objects.filter(vendor=vendor).count() == 1


def test_the_signature_covers_method_path_timestamp_and_body(vendor_task, make_vendor):
    vendor, task = vendor_task
    body = json.dumps({"task": task.pk, "vendor_ticket_ref": "ACME-9"}).encode()
    ts = int(time.time())

    def signed(**overrides):
        parts = {"method": "POST", "path": inbound(vendor), "timestamp": ts, "idempotency_key": "k", "body": body,
                 **overrides}
        return {"X-Release-Timestamp": str(ts), "Idempotency-Key": "k", "X-Release-Signature": sign(SECRET, **parts)}

    for wrong in ({"method": "PUT"}, {"path": inbound(vendor) + "?again=1"}, {"timestamp": ts - 1},
                  {"body": body + b" "}):
        response = post(inbound(vendor), body, signed(**wrong))
        assert response.status_code == 401 and response.json()["code"] == "bad_signature", wrong
    # Signed for another vendor's endpoint (the same secret by mischance): refused here.
    other = make_vendor("Beta", secret=SECRET)
    assert post(inbound(vendor), body, signed(path=inbound(other))).status_code == 401
    # The retired scheme (timestamp and body only) is refused with the reason.
    v1 = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    response = post(inbound(vendor), body, {"X-Release-Timestamp": str(ts), "Idempotency-Key": "k",
                                            "X-Release-Signature": v1})
    assert response.status_code == 401 and "v2" in response.json()["detail"]
    # A stale timestamp, correctly signed, is still refused.
    stale = ts - 3600
    headers = {"X-Release-Timestamp": str(stale), "Idempotency-Key": "k",
               "X-Release-Signature": sign(SECRET, method="POST", path=inbound(vendor), timestamp=stale,
                                           idempotency_key="k", body=body)}
    assert post(inbound(vendor), body, headers).status_code == 401
    task.refresh_from_db()
    assert task.vendor_ticket_ref == "" and not InboundDelivery.objects.exists()
    # Signed as it should be, it goes through.
    assert post(inbound(vendor), body, signed()).status_code == 200


def test_during_the_overlap_the_previous_secret_still_signs_inbound_updates(vendor_task, django_user_model):
    vendor, task = vendor_task
    root = django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345")
    new = vendor_services.vendor_secret_rotate(vendor_id=vendor.pk, by=root, overlap=timedelta(hours=24))
    for n, secret in enumerate((SECRET, new)):
        body = json.dumps({"task": task.pk, "vendor_ticket_ref": f"ACME-{n}"}).encode()
        response = post(inbound(vendor), body, signed_headers(secret, url=inbound(vendor), body=body,
                                                              idempotency_key=f"overlap-{n}"))
        assert response.status_code == 200, (n, response.content)
    # The window ends: the previous secret is refused, the new one still works.
    vendor.refresh_from_db()
    vendor.previous_secret_valid_until = timezone.now() - timedelta(seconds=1)
    vendor.save()
    body = json.dumps({"task": task.pk, "vendor_ticket_ref": "ACME-late"}).encode()
    late = post(inbound(vendor), body, signed_headers(SECRET, url=inbound(vendor), body=body,
                                                      idempotency_key="late-old"))
    assert late.status_code == 401
    assert post(inbound(vendor), body, signed_headers(new, url=inbound(vendor), body=body,
                                                      idempotency_key="late-new")).status_code == 200
