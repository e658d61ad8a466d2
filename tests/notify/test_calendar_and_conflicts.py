"""Release calendar, freeze windows and conflicts between releases."""
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from cmdb.models import ConfigurationItem
from releasemgmt.workflow import TransitionBlocked
from calendars.entries import entries, to_ical
from releases.models import CalendarToken, FreezeWindow, OutboxMessage, Team, TransitionLog
from releases.scenario import Walker, new_release
from releases.services import release_transition, release_update, task_update
from tests.helpers import ics_events

pytestmark = pytest.mark.django_db


def test_feed_parses_and_a_reschedule_keeps_the_uid_and_raises_the_sequence(actors, cis):
    release = Walker(new_release(actors, cis=cis), actors).to("scheduled")
    before = ics_events(to_ical(entries(release=release, viewer=actors.release_manager)))
    uid = f"release-{release.pk}-window@127.0.0.1"
    assert before[uid]["sequence"] == 0
    assert f"release-{release.pk}-deployment@127.0.0.1" in before
    assert any(u.startswith("task-") for u in before)

    release_update(release_id=release.pk, by=actors.release_manager,
                   planned_end=release.planned_end + timedelta(days=1))
    after = ics_events(to_ical(entries(release=release, viewer=actors.release_manager)))
    assert set(after) == set(before)  # same UIDs: an update, not a new event
    assert after[uid]["sequence"] == 1
    assert after[uid].decoded("dtend") == (release.planned_end + timedelta(days=1)).replace(microsecond=0)
    # Subscribers were sent the update with the .ics attached.
    updates = OutboxMessage.objects.filter(release=release, event="reschedule")
    assert updates.exists() and all("SEQUENCE:1" in m.payload["ics"] for m in updates)


def test_moving_a_task_raises_its_sequence(actors, cis):
    release = Walker(new_release(actors, cis=cis), actors).to("scheduled")
    task = release.tasks.first()
    task_update(task_id=task.pk, by=actors.release_manager, planned_end=task.planned_end - timedelta(hours=1))
    ev = ics_events(to_ical(entries(release=release, viewer=actors.release_manager)))[f"task-{task.pk}@127.0.0.1"]
    assert ev["sequence"] == 1


def test_schedule_mails_stakeholders_the_calendar(actors, cis, make_user, django_capture_on_commit_callbacks):
    stakeholder = make_user("stakeholder", username="sue")
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("plan_approved")
    with django_capture_on_commit_callbacks(execute=True):
        walker.to("scheduled")
    sent = [m for m in mail.outbox if m.to == [stakeholder.email]]
    assert len(sent) == 1
    message = sent[0]
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    assert f"/releases/{walker.release.pk}/" in message.body
    (name, content, mimetype), = message.attachments
    assert name == "release.ics" and mimetype.startswith("text/calendar")
    assert f"release-{walker.release.pk}-window@" in content


@pytest.fixture
def freeze(cis):
    now = timezone.now()
    f = FreezeWindow.objects.create(name="Quarter close", start=now - timedelta(days=2), end=now + timedelta(days=30))
    f.cis.add(cis[1])  # orders-db; orders-api depends on it
    return f


def test_schedule_is_blocked_by_a_freeze_on_a_ci_in_scope(actors, cis, freeze):
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("plan_approved")
    with pytest.raises(TransitionBlocked) as exc:
        walker.to("scheduled")
    codes = {b.code: b.message for b in exc.value.blockers}
    assert "freeze_window" in codes and "Quarter close" in codes["freeze_window"]
    assert "orders-db" in codes["freeze_window"]
    assert walker.release.__class__.objects.get(pk=walker.release.pk).state == "plan_approved"


def test_an_emergency_release_may_schedule_in_a_freeze_with_a_recorded_reason(actors, cis, freeze):
    walker = Walker(new_release(actors, cis=cis, release_type="emergency"), actors)
    walker.to("plan_approved")
    release = walker.release
    from releases.services import task_create

    for step in (4, 12):
        task_create(release_id=release.pk, by=actors.release_manager, title=f"step {step}", step=step,
                    assignee_user=actors.build_team, planned_start=release.planned_start + timedelta(hours=3),
                    planned_end=release.planned_end - timedelta(hours=3))
    with pytest.raises(TransitionBlocked):
        release_transition(release_id=release.pk, name="schedule", by=actors.release_manager)
    release_transition(release_id=release.pk, name="schedule", by=actors.release_manager,
                       freeze_override_reason="Payment outage: fix cannot wait.")
    log = TransitionLog.objects.get(object_id=release.pk, content_type__model="release", name="schedule")
    assert log.payload["freeze_override_reason"] == "Payment outage: fix cannot wait."


def test_two_releases_changing_dependent_cis_in_one_window_conflict(actors, cis):
    first = Walker(new_release(actors, title="First", cis=[cis[1]]), actors).to("scheduled")  # orders-db
    second = Walker(new_release(actors, title="Second", cis=[cis[0]]), actors)  # orders-api depends on orders-db
    second.to("plan_approved")
    with pytest.raises(TransitionBlocked) as exc:
        second.to("scheduled")
    blockers = [b for b in exc.value.blockers if b.code == "release_conflict"]
    assert len(blockers) == 1 and first.number in blockers[0].message and "orders-db" in blockers[0].message


def test_a_release_on_an_unrelated_ci_does_not_conflict(actors, cis):
    other = ConfigurationItem.objects.create(name="hr-portal", version="1.0")
    Walker(new_release(actors, title="First", cis=[cis[1]]), actors).to("scheduled")
    assert Walker(new_release(actors, title="Other", cis=[other]), actors).to("scheduled").state == "scheduled"


def test_start_deployment_is_blocked_by_a_global_freeze(actors, cis):
    walker = Walker(new_release(actors, cis=cis), actors)
    walker.to("backed_up")
    now = timezone.now()
    FreezeWindow.objects.create(name="Black Friday", start=now - timedelta(hours=1), end=now + timedelta(hours=5))
    with pytest.raises(TransitionBlocked) as exc:
        walker.to("deploying")
    assert [b.code for b in exc.value.blockers] == ["freeze_window"]
    assert "(global)" in exc.value.blockers[0].message


def test_calendar_endpoints(actors, cis, make_user):
    team = Team.objects.create(name="Ops")
    team.members.add(actors.deployment_team)
    release = Walker(new_release(actors, cis=cis), actors).to("scheduled")
    task = release.tasks.first()
    task_update(task_id=task.pk, by=actors.release_manager, assignee_user=None, assignee_team=team)
    client = APIClient()
    assert client.get("/api/calendar/").status_code == 401
    assert client.get("/calendar.ics").status_code == 401
    client.force_authenticate(actors.stakeholder if hasattr(actors, "stakeholder") else actors.requester)
    body = client.get("/api/calendar/").json()
    # The general feed holds windows and freezes; tasks are in the team, release and personal feeds.
    assert {e["kind"] for e in body} == {"release_window", "deployment_window"}
    by_team = client.get(f"/api/calendar/?team={team.pk}").json()
    assert [e["uid"] for e in by_team if e["kind"] == "task"] == [f"task-{task.pk}@127.0.0.1"]
    by_ci = client.get(f"/api/calendar/?ci={cis[0].pk}").json()
    assert any(e["release"] == release.pk for e in by_ci)
    assert client.get("/api/calendar/?start=yesterday").status_code == 400
    assert client.get("/api/calendar/?team=999999").status_code == 404
    feed = client.get("/calendar.ics")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("text/calendar")
    assert ics_events(feed.content)

    token = CalendarToken.for_user(actors.deployment_team)
    anonymous = APIClient()
    private = anonymous.get(f"/calendar/{token.key}.ics")
    assert private.status_code == 200
    assert f"task-{task.pk}@127.0.0.1" in ics_events(private.content)
    assert anonymous.get("/calendar/not-a-token.ics").status_code == 404


def test_a_vendor_sees_only_its_own_work_in_the_calendar(actors, cis, make_user):
    from releases.models import Vendor
    from releases.services import task_create

    vendor_user = make_user("vendor", username="acme")
    vendor = Vendor.objects.create(name="Acme")
    vendor.users.add(vendor_user)
    mine = Walker(new_release(actors, title="With Acme", cis=cis), actors).to("plan_approved")
    task = task_create(release_id=mine.pk, by=actors.release_manager, title="Acme work", step=12,
                       assignee_vendor=vendor, planned_start=mine.planned_start + timedelta(hours=5),
                       planned_end=mine.planned_end - timedelta(hours=5))
    other = ConfigurationItem.objects.create(name="hr-portal", version="1.0")
    Walker(new_release(actors, title="Without Acme", cis=[other]), actors).to("scheduled")
    client = APIClient()
    client.force_authenticate(vendor_user)
    titles = {e["title"] for e in client.get("/api/calendar/").json()}
    assert any("Acme work" in t for t in titles)
    assert not any("Without Acme" in t for t in titles)
    assert task.pk
