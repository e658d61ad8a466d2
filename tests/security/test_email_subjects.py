"""An email subject is one line whatever the title holds: a release title
with a line break (possible through the API, the admin or a shell) made
every message of that release fail with BadHeaderError, retried and then
given up. ``notifications.notices`` folds line breaks and control
characters into spaces wherever it builds a subject."""
from __future__ import annotations

import pytest
from django.core import mail

from releases.models import OutboxMessage, Vendor
from notifications.notices import one_line
from releases.scenario import Walker, new_release
from releases.services import release_transition, task_create
from notifications.tasks import deliver_outbox

pytestmark = pytest.mark.django_db

TITLE = "Checkout\r\nBcc: everyone@example.test\nX-Evil: 1\x0b\x1b[31m \u2028 end"


def test_a_title_with_line_breaks_still_gets_its_emails_out(actors, cis, settings,
                                                             django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    release = Walker(new_release(actors, cis=cis, title=TITLE), actors).to("planning")
    Walker(release, actors).plan()
    with django_capture_on_commit_callbacks(execute=True):
        release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)
    rows = OutboxMessage.objects.filter(release=release, event="submit_plan")
    assert rows.count() == len(actors.cab_members)
    assert set(rows.values_list("status", flat=True)) == {"sent"}, list(rows.values_list("last_error", flat=True))
    # (The relay also delivers what waits on people: one line each as well.)
    assert len([m for m in mail.outbox if "awaits your CAB vote" in m.subject]) == len(actors.cab_members)
    for message in mail.outbox:
        assert "\n" not in message.subject and "\r" not in message.subject
        assert "Bcc: everyone@example.test X-Evil: 1" in message.subject
        headers = message.message()
        assert headers["Bcc"] is None and headers["X-Evil"] is None


def test_vendor_routed_task_subjects_are_one_line(actors, cis, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    vendor = Vendor.objects.create(name="Acme", email="queue@acme.example")
    release = Walker(new_release(actors, cis=cis), actors).to("plan_approved")
    task_create(release_id=release.pk, by=actors.release_manager, title="Swap\ndisks", step=4,
                assignee_vendor=vendor, planned_start=release.planned_start, planned_end=release.planned_end)
    Walker(release, actors).to("scheduled")
    deliver_outbox()
    routed = OutboxMessage.objects.get(event="route_vendor_task")
    assert routed.status == "sent", routed.last_error
    assert routed.subject.endswith("Swap disks")


@pytest.mark.parametrize("text, expected", [
    ("a\r\nb", "a b"), ("a\n\n\nb", "a b"), ("a\x00b", "a b"), ("a\u2028b\u2029c", "a b c"),
    ("  padded\t", "padded"), ("plain title", "plain title"),
])
def test_one_line(text, expected):
    assert one_line(text) == expected
