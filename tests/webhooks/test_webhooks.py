"""Event subscriptions: signed deliveries (verified with ``standardwebhooks``)
through the outbox, once each however long the subscriber is down; the
delivery log and redelivery; the secret shown once; bad input; who may."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.utils import timezone

from notifications.tasks import deliver_outbox
from releasemgmt.events import Event
from releases import services as release_services
from releases.choices import ReleaseState
from releases.models import OutboxMessage, RefusedAttempt, Release
from releases.scenario import Walker, new_release
from tests.helpers import html, token_client
from webhooks import catalog
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db


def later():
    """The backoff has passed: every queued delivery is due now."""
    OutboxMessage.objects.filter(status="pending").update(next_attempt_at=timezone.now())


def test_a_subscriber_down_gets_every_event_later_once_each_verified(subscribe, subscriber, rm_client, actors, cis):
    made = subscribe("release.transitioned", "rfc.authorized", "task.assigned")
    subscriber.up = False
    walker = Walker(new_release(actors, cis=cis), actors)  # its RFC authorised on the way
    walker.to(ReleaseState.PLANNING)
    release_services.task_create(release_id=walker.release.pk, by=actors.release_manager, title="Patch the DB",
                                 assignee_user=actors.deployment_team)
    deliver_outbox()
    failed = list(subscriber.received)
    assert sorted(r["event"]["type"] for r in failed) == ["release.transitioned", "rfc.authorized", "task.assigned"]
    # Backed off, not dropped.
    assert all(m.next_attempt_at > timezone.now() for m in OutboxMessage.objects.filter(payload__sender="webhooks"))
    deliver_outbox()
    assert len(subscriber.received) == 3  # nothing due yet

    subscriber.up = True
    later()
    deliver_outbox()
    later()
    deliver_outbox()  # nothing left to send
    accepted = subscriber.accepted()
    assert all(r["verified"] for r in subscriber.received)
    assert sorted(r["id"] for r in accepted) == sorted(r["id"] for r in failed)  # once each, the same webhook-id
    event = next(r["event"] for r in accepted if r["event"]["type"] == "release.transitioned")
    assert event["data"]["release"]["number"] == walker.release.number
    assert event["data"]["transition"]["target"] == ReleaseState.PLANNING
    task = next(r["event"] for r in accepted if r["event"]["type"] == "task.assigned")
    assert task["data"]["task"]["title"] == "Patch the DB"

    log = rm_client.get(f"/api/webhooks/{made['id']}/deliveries/").json()["results"]
    assert [(a["attempt"], a["status_code"]) for a in log[0]["attempts"]] == [(1, 503), (2, 204)]
    assert {d["status"] for d in log} == {"sent"}


def test_redelivery_sends_the_same_webhook_id_again_and_logs_it(subscribe, subscriber, rm_client, actors):
    made = subscribe("rfc.authorized")
    new_release(actors)
    deliver_outbox()
    first = subscriber.accepted()[0]
    delivery = Delivery.objects.get()
    url = f"/api/webhooks/{made['id']}/deliveries/{delivery.pk}/redeliver/"
    response = rm_client.post(url, {}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending"
    again = rm_client.post(url, {}, format="json")  # still queued
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    deliver_outbox()
    assert [r["id"] for r in subscriber.accepted()] == [first["id"], first["id"]]
    assert all(r["verified"] for r in subscriber.received)
    assert list(delivery.attempts.values_list("attempt", "status_code")) == [(1, 204), (2, 204)]


def test_a_gate_polled_with_the_same_answer_is_delivered_once(subscribe, subscriber, make_user, actors, cis):
    subscribe("gate.decision")
    release = new_release(actors, cis=cis)
    pipeline = token_client(make_user("deployment_team"))
    for _ in range(2):
        assert pipeline.get("/api/gate/", {"release": release.number}).json()["decision"] == "awaiting"
    deliver_outbox()
    [got] = subscriber.accepted()
    assert got["verified"] and got["event"]["data"]["decision"] == "awaiting"
    assert got["event"]["data"]["release"]["id"] == release.pk


@pytest.mark.parametrize("target, expected", [
    (ReleaseState.DEPLOYED, {"release.transitioned", "release.deployed"}),
    (ReleaseState.ROLLED_BACK, {"release.transitioned", "release.rolled_back"}),
    (ReleaseState.CLOSED, {"release.transitioned", "release.closed"}),
    (ReleaseState.SCHEDULED, {"release.transitioned"}),
])
def test_release_event_types_by_the_state_reached(target, expected):
    event = Event(obj=Release(), name="any", log=SimpleNamespace(pk=1), target=target)
    assert set(catalog.types_of(event)) == expected


def test_the_secret_is_shown_once_and_kept_sealed(subscribe, rm_client, client, rm):
    made = subscribe("release.closed")
    secret = made["secret"]
    assert secret.startswith("whsec_")
    row = Subscription.objects.get()
    assert secret not in row.secret_sealed and row.signing_secret() == secret
    assert "secret" not in rm_client.get(f"/api/webhooks/{made['id']}/").json()
    assert secret not in rm_client.get("/api/webhooks/").content.decode()
    client.force_login(rm)
    page = client.post("/webhooks/", {"url": "https://hooks.example.com/b", "event_types": ["release.closed"]})
    shown = Subscription.objects.get(url="https://hooks.example.com/b").signing_secret()
    assert page.status_code == 200 and shown in html(page) and "no-store" in page["Cache-Control"]
    assert shown not in html(client.get("/webhooks/")) and secret not in html(client.get(f"/webhooks/{made['id']}/"))


@pytest.mark.parametrize("body, field, words", [
    ({"url": "ftp://hooks.example.com/x"}, "url", "http:// or https://"),
    ({"url": "http://127.0.0.1:8080/x"}, "url", "private, loopback"),
    ({"url": "http://10.1.2.3/x"}, "url", "private, loopback"),
    ({"url": "http://localhost/x"}, "url", "private, loopback"),
    ({"url": "https://user:pw@hooks.example.com/x"}, "url", "credentials"),
    ({"event_types": ["release.exploded"]}, "event_types", "is not an event type; known: release.transitioned"),
    ({"event_types": []}, "event_types", ""),
])
def test_bad_input_is_refused_with_the_reason(rm_client, body, field, words):
    response = rm_client.post("/api/webhooks/", {"url": "https://hooks.example.com/x",
                                                 "event_types": ["release.closed"], **body}, format="json")
    assert response.status_code == 400, response.json()
    assert words in str(response.json()[field])
    assert not Subscription.objects.exists()


def test_other_roles_may_not_manage_subscriptions(subscribe, make_user, client, actors):
    made = subscribe("rfc.authorized")
    new_release(actors)
    delivery = Delivery.objects.get()
    for role in ("change_manager", "stakeholder", "vendor"):
        user = make_user(role)
        api = token_client(user)
        assert api.get("/api/webhooks/").status_code == 403
        assert api.get(f"/api/webhooks/{made['id']}/deliveries/").status_code == 403
        assert api.post("/api/webhooks/", {"url": "https://x.example.com/", "event_types": ["release.closed"]},
                        format="json").status_code == 403
        assert api.post(f"/api/webhooks/{made['id']}/deliveries/{delivery.pk}/redeliver/", {},
                        format="json").status_code == 403
        client.force_login(user)
        assert client.get("/webhooks/").status_code == 403
        assert client.post(f"/webhooks/{made['id']}/deliveries/{delivery.pk}/redeliver/").status_code == 403
        assert Subscription.objects.restrict(user).count() == 0
        # The writes' refusals are kept (looking is not an attempt).
        assert RefusedAttempt.objects.filter(action="manage_webhooks", by=user).count() == 2
        assert RefusedAttempt.objects.filter(by=user, entry_point="ui").count() == 1
    assert Subscription.objects.count() == 1 and OutboxMessage.objects.filter(payload__sender="webhooks").count() == 1


def test_the_page_shows_the_delivery_log_and_redelivers(subscribe, subscriber, client, rm, actors):
    made = subscribe("rfc.authorized")
    subscriber.up = False
    new_release(actors)
    deliver_outbox()
    OutboxMessage.objects.filter(payload__sender="webhooks").update(status="failed")  # given up
    delivery = Delivery.objects.get()
    client.force_login(rm)
    page = html(client.get(f"/webhooks/{made['id']}/"))
    assert delivery.webhook_id in page and "HTTP 503" in page and "Redeliver" in page
    subscriber.up = True
    response = client.post(f"/webhooks/{made['id']}/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 302
    deliver_outbox()
    assert [r["id"] for r in subscriber.accepted()] == [delivery.webhook_id]
    assert "HTTP 204" in html(client.get(f"/webhooks/{made['id']}/"))
