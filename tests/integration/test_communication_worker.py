"""A step 9 stakeholder notice reaches its recipients through a real Celery
worker and a real Redis (the services of tests/integration/test_real_worker.py):
the record writes its messages to the outbox, beat triggers the relay, the
worker sends one email per recipient, and step 9 can be taken.

Outside CI this is skipped without PostgreSQL or a ``redis-server`` binary;
in CI it fails instead.
"""
from __future__ import annotations

import shutil
import time
from collections import Counter

import pytest
from django.contrib.contenttypes.models import ContentType

from releases.models import Communication, OutboxMessage, Team
from releases.services import record_add, release_transition, release_update
from tests.helpers import IN_CI, reach

from .test_real_worker import (  # noqa: F401  (the fixtures)
    Clock,
    assert_each_sent_once,
    cluster,
    redis_server,
    wait_for,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.real_worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not IN_CI and not shutil.which("redis-server"), reason="needs the redis-server binary"),
]


@pytest.fixture(autouse=True)
def _step_notices_only(monkeypatch):
    """The notice and its delivery are what is tested; what waits on people
    (notifications.queue) would leave messages the worker sends after the test."""
    monkeypatch.setattr("notifications.queue.tell", lambda *args, **kwargs: 0)


def test_a_stakeholder_notice_reaches_its_recipients_through_a_real_worker(actors, cis, cluster, make_user):
    clock = Clock()
    w = reach(actors, cis, "plans_updated")
    w.add("environment_readiness", actors.deployment_team, environment="production", ready=True)
    release_update(release_id=w.release.pk, by=w.rm, acceptance_criteria="Health checks green for 1 hour.")
    OutboxMessage.objects.update(status="sent")  # what the walk announced is not this test's concern
    team = Team.objects.create(name="Service desk", email="desk@example.test")
    team.members.add(make_user("stakeholder"))
    worker = cluster.worker("w1")
    cluster.beat()
    clock("worker and beat ready")

    record = record_add(release_id=w.release.pk, record_type="communications", by=w.rm, kind="stakeholder_notice",
                        subject="Orders 2.4 is coming", body="Deployment on Saturday, 02:00-04:00 UTC.",
                        rfc_requesters=True, teams=[team])
    ct = ContentType.objects.get_for_model(Communication)
    rows = OutboxMessage.objects.filter(content_type=ct, object_id=record.pk)
    expected = sorted({actors.requester.email, "desk@example.test", *team.members.values_list("email", flat=True)})
    assert sorted(rows.values_list("recipient", flat=True)) == expected  # written with the record

    def delivered():
        return Counter(rows.values_list("status", flat=True)) == Counter({"sent": len(expected)})

    wait_for(delivered, 30, "the worker to deliver the stakeholder notice", diagnostics=cluster.logs)
    clock(f"{len(expected)} messages delivered")
    time.sleep(0.5)
    messages = [m for m in cluster.mails() if str(m["X-Release-Event"]) == "stakeholder_notice"]
    assert sorted(str(m["To"]) for m in messages) == expected  # one message per recipient, each once
    assert all(str(m["Subject"]) == f"{w.release.number}: Orders 2.4 is coming" for m in messages)
    assert all("Saturday, 02:00-04:00 UTC" in m.get_body(("plain",)).get_content() for m in messages)
    assert all(m.get_body(("html",)) is not None for m in messages)  # the HTML part travelled too
    assert_each_sent_once(rows)
    assert "releases.tasks.deliver_outbox" in worker.text()  # the worker did it, not this process

    assert release_transition(release_id=w.release.pk, name="prepare", by=w.rm).state == "ready"
