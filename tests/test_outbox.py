"""Notifications are written to the outbox with the state change, and only then."""
import pytest
from django.core import mail

from releasemgmt.workflow import TransitionBlocked
from releases.models import OutboxMessage
from releases.scenario import Walker, new_release
from releases.services import release_transition
from releases.tasks import deliver_outbox

pytestmark = pytest.mark.django_db


def test_submit_plan_writes_one_message_per_cab_member_and_delivers_after_commit(
        actors, cis, django_capture_on_commit_callbacks):
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    Walker(release, actors).plan()
    with django_capture_on_commit_callbacks(execute=True):
        release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    rows = OutboxMessage.objects.filter(release=release, event="submit_plan")
    assert sorted(rows.values_list("recipient", flat=True)) == sorted(u.email for u in actors.cab_members)
    # The relay ran after commit (tasks run in process without a broker).
    assert set(rows.values_list("status", flat=True)) == {"sent"}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in actors.cab_members)
    assert "awaits your CAB vote" in mail.outbox[0].subject


def test_a_refused_transition_writes_nothing(actors, cis):
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    with pytest.raises(TransitionBlocked):
        release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    assert not OutboxMessage.objects.exists()


def test_the_requester_and_release_manager_are_not_asked_to_vote(actors, cis, make_user):
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    actors.release_manager.groups.add(*actors.cab_members[0].groups.all())
    Walker(release, actors).plan()
    release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    recipients = set(OutboxMessage.objects.values_list("recipient", flat=True))
    assert actors.release_manager.email not in recipients


def test_relay_is_idempotent_and_retries_failures(actors, cis, settings):
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    Walker(release, actors).plan()
    release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    settings.EMAIL_BACKEND = "tests.failing_mail.Backend"
    assert deliver_outbox() == 0
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"pending"}
    assert all(m.attempts == 1 and m.next_attempt_at for m in OutboxMessage.objects.all())
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for message in OutboxMessage.objects.all():  # the retry is due now
        message.next_attempt_at = None
        message.save()
    assert deliver_outbox() == len(actors.cab_members)
    assert deliver_outbox() == 0  # nothing is sent twice
    assert len(mail.outbox) == len(actors.cab_members)
