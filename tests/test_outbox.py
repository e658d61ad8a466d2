"""Notifications are written to the outbox with the state change, and only then."""
from datetime import timedelta

import pytest
from django.core import mail

from releasemgmt.workflow import TransitionBlocked
from releases.models import OutboxMessage
from releases.scenario import Walker, new_release
from releases.services import release_transition
from notifications.tasks import deliver_outbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _step_notices_only(monkeypatch):
    """These tests count the messages of the steps' own notices and how the
    relay delivers them; what waits on people (told by notifications.queue
    when work lands in a queue) is tested in tests/notify/test_queue_notices.py."""
    monkeypatch.setattr("notifications.queue.tell", lambda *args, **kwargs: 0)


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


# --- the lease: claim, send outside any transaction, settle ---------------------------


@pytest.fixture
def dying_mail(settings):
    from tests import dying_mail

    settings.EMAIL_BACKEND = "tests.dying_mail.Backend"
    dying_mail.reset()
    yield dying_mail
    dying_mail.reset()


def cab_messages(actors, cis):
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    Walker(release, actors).plan()
    release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    rows = list(OutboxMessage.objects.order_by("id"))
    assert len(rows) == len(actors.cab_members) >= 3
    return rows


def test_a_relay_that_dies_mid_send_repeats_only_that_message_with_the_same_message_id(
        actors, cis, dying_mail, settings):
    from django.utils import timezone

    first, in_flight, last = cab_messages(actors, cis)[:3]
    dying_mail.reset(die_after=2)
    with pytest.raises(dying_mail.WorkerDied):
        deliver_outbox()
    # Claimed (and committed) before it was sent: the row says so, with its lease.
    in_flight.refresh_from_db()
    assert (in_flight.status, in_flight.attempts) == ("sending", 1)
    assert in_flight.lease_until > timezone.now() and in_flight.claimed_by
    assert OutboxMessage.objects.get(pk=first.pk).status == "sent"
    delivered = {m.to[0]: m.extra_headers["Message-ID"] for m, _ in dying_mail.sent}
    assert list(delivered) == [first.recipient, in_flight.recipient]

    # Another relay: the leased message is not due yet; the others go out.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    deliver_outbox()
    assert [m.to for m in mail.outbox] == [[r.recipient] for r in
                                           OutboxMessage.objects.filter(status="sent").exclude(pk=first.pk)]
    assert OutboxMessage.objects.get(pk=in_flight.pk).status == "sending"

    # The lease runs out: the message is due again and goes out once more, as the same message.
    in_flight.refresh_from_db()
    in_flight.lease_until = timezone.now() - timedelta(seconds=1)
    in_flight.save()
    mail.outbox.clear()
    assert deliver_outbox() == 1
    (repeat,) = mail.outbox
    assert repeat.to == [in_flight.recipient]
    assert repeat.message()["Message-ID"] == delivered[in_flight.recipient]
    in_flight.refresh_from_db()
    assert (in_flight.status, in_flight.attempts, in_flight.lease_until) == ("sent", 2, None)
    assert deliver_outbox() == 0
    # One Message-ID per occurrence and recipient.
    assert len(set(delivered.values())) == 2
    assert OutboxMessage.objects.filter(status="sent").count() == OutboxMessage.objects.count()


def test_a_message_that_keeps_killing_its_relay_is_failed_not_sent_forever(actors, cis, dying_mail):
    from django.utils import timezone

    from notifications import tasks

    row = cab_messages(actors, cis)[0]
    row.status, row.attempts = "sending", tasks.MAX_ATTEMPTS
    row.lease_until = timezone.now() - timedelta(seconds=1)
    row.save()
    deliver_outbox()
    row.refresh_from_db()
    assert row.status == "failed" and "lease expired" in row.last_error
    assert row.recipient not in [m.to[0] for m, _ in dying_mail.sent]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_messages_are_sent_outside_any_transaction(actors, cis, dying_mail):
    rows = cab_messages(actors, cis)  # delivered in process right after the transition's commit
    assert [in_transaction for _, in_transaction in dying_mail.sent] == [False] * len(rows)
    assert set(OutboxMessage.objects.values_list("status", "lease_until")) == {("sent", None)}
