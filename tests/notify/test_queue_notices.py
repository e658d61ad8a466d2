"""Work landing in someone's queue is told through the outbox: once per item
(whatever reloads or repeated announcements), at once or in the daily digest
a person may choose; the digest goes out through its Celery beat task."""
import pytest
from django.conf import settings
from django.core import mail

from changes.services import rfc_create
from notifications.models import QueueDelivery, QueueNotice
from notifications.preferences import set_queue_delivery
from notifications.queue import DIGEST_EVENT, QUEUE_EVENT, on_moved, send_queue_digests
from releasemgmt import events
from releasemgmt.workflow import name_of
from releases.models import OutboxMessage, Release, TransitionLog
from releases.scenario import Walker, new_release

pytestmark = pytest.mark.django_db


def told(user, event=QUEUE_EVENT):
    return list(OutboxMessage.objects.filter(event=event, recipient=user.email))


@pytest.fixture
def walker(actors, cis):
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("tests_passed")
    return walker


def update_plans(walker):
    """Step 8 (the plans revised, then ``update_plans``): the environment
    readiness now waits on the deployment team, whom the step's own notice
    (to change management and stakeholders) does not tell."""
    walker.tests_passed()
    return walker.release


def test_the_deployment_team_is_told_once_that_a_record_waits_on_it(client, actors, walker):
    built = update_plans(walker)
    deployer = actors.deployment_team
    rows = told(deployer)
    assert len(rows) == 1
    assert rows[0].subject == f"Waiting on you: Record the environment readiness · {built.number} {built.title}"
    assert f"{settings.SITE_URL.rstrip('/')}/releases/{built.pk}/records/environment_readiness/" in rows[0].body
    assert 'href="' in rows[0].payload["html"]
    # The one who took the step is not told of the work it left them.
    assert not [m for m in told(actors.release_manager) if "Prepare" in m.subject]
    # (Steps others took did tell them: the build team's "Complete build" left them "Start testing".)
    assert [m for m in told(actors.release_manager) if "Start testing" in m.subject]
    # Reading the queue, or the same step announced again, tells no one again.
    client.force_login(deployer)
    client.get("/"), client.get("/")
    log = TransitionLog.objects.filter(name=name_of(Release.update_plans)).get()
    on_moved(events.Event(obj=Release.objects.get(pk=built.pk), name=log.name, by=actors.release_manager, log=log))
    assert len(told(deployer)) == 1
    assert QueueNotice.objects.filter(user=deployer, key__startswith="record:").count() == 1


def test_a_digest_reader_hears_once_a_day_of_what_landed(actors, walker):
    deployer = actors.deployment_team
    set_queue_delivery(deployer, QueueDelivery.DIGEST)
    built = update_plans(walker)
    assert told(deployer) == []
    assert QueueNotice.objects.get(user=deployer, key__startswith="record:").digested_at is None
    assert send_queue_digests() >= 1
    digest = told(deployer, DIGEST_EVENT)
    assert len(digest) == 1 and digest[0].subject.startswith("Waiting on you: ")
    assert f"Record the environment readiness: {built.number} {built.title}" in digest[0].body
    # The next run has nothing new to tell.
    assert send_queue_digests() == 0
    assert len(told(deployer, DIGEST_EVENT)) == 1


def test_the_digest_task_keeps_its_beat_name():
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert send_queue_digests.name == "notifications.queue.send_queue_digests" and send_queue_digests.name in beat


def test_a_raised_rfc_is_told_to_change_management(actors, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rfc = rfc_create(by=actors.requester, title="Add a cache", description="Faster orders.")
    rows = told(actors.change_manager)
    assert [r.subject for r in rows] == [f"Waiting on you: Assess · {rfc.number} Add a cache"]
    assert told(actors.requester) == []
    # Delivered by the relay (in process here, as without a broker).
    assert any(m.subject == rows[0].subject and m.to == [actors.change_manager.email] for m in mail.outbox)


def test_whom_the_steps_own_notice_told_is_not_told_twice(actors, cis):
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("plan_submitted")
    member = actors.cab_members[0]
    # "... awaits your CAB vote" went out; the queue item is noted, not mailed again.
    assert OutboxMessage.objects.filter(event=name_of(Release.submit_plan), recipient=member.email).count() == 1
    assert not [m for m in told(member) if "Vote on plan" in m.subject]
    assert QueueNotice.objects.filter(user=member, key__startswith="cab_vote:").count() == 1
