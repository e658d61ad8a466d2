"""Celery tasks: the outbox relay and the reminders Celery beat sends.

The relay runs on a beat schedule (and in process when there is no broker),
so a request never talks to Redis. Each message is delivered in its own
transaction with its row locked: two relays never send one message, a crash
leaves it pending for the next run, and webhooks carry an idempotency key so
the receiver can drop a repeat after a crash between sending and committing.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .choices import Channel, OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 15


def _due(now):
    from .models import OutboxMessage

    return OutboxMessage.objects.filter(status=OutboxStatus.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_outbox(limit: int = 500) -> int:
    """Deliver what is due; returns how many messages went out."""
    now = timezone.now()
    ids = list(_due(now).order_by("id").values_list("id", flat=True)[:limit])
    return sum(1 for pk in ids if deliver_message(pk))


def deliver_message(pk: int) -> bool:
    from .models import OutboxMessage

    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
            pk=pk, status=OutboxStatus.PENDING).first()
        if row is None:  # delivered meanwhile, or another relay holds it
            return False
        row.attempts += 1
        try:
            _send(row)
        except Exception as exc:  # noqa: BLE001 - any delivery failure is retried, then recorded
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = OutboxStatus.FAILED
                log.warning("outbox %s failed for good after %s attempts: %s", row.pk, row.attempts, row.last_error)
            else:
                row.next_attempt_at = timezone.now() + timedelta(seconds=BACKOFF_SECONDS * 2 ** (row.attempts - 1))
            sent = False
        else:
            row.status = OutboxStatus.SENT
            row.sent_at = timezone.now()
            row.last_error = ""
            sent = True
        row._change_reason = "deliver"
        row.save()
        return sent


def _send(row):
    if row.channel == Channel.WEBHOOK:
        return _send_webhook(row)
    message = EmailMultiAlternatives(row.subject, row.body, settings.DEFAULT_FROM_EMAIL, [row.recipient],
                                     headers={"X-Release-Event": row.event})
    if row.payload.get("html"):
        message.attach_alternative(row.payload["html"], "text/html")
    if row.payload.get("ics"):
        message.attach("release.ics", row.payload["ics"], "text/calendar; method=PUBLISH; charset=utf-8")
    message.send()


def _send_webhook(row):
    from .models import Task, Vendor
    from .vendors import post_signed

    vendor = Vendor.objects.get(pk=row.payload["vendor"])
    answer = post_signed(vendor.integration_url, vendor.integration_secret, row.payload["body"], row.dedupe_key)
    ticket = str(answer.get("ticket") or "")[:200]
    if ticket:
        task = Task.objects.select_for_update().get(pk=row.object_id)
        if task.vendor_ticket_ref != ticket:
            task.vendor_ticket_ref = ticket
            task._change_reason = "vendor ticket"
            task.save()


# --- reminders (Celery beat) ------------------------------------------------------

# How long a release should stand in each state, by type; beyond it the
# reminders start (and reports compare against it).
STEP_TARGETS = {
    "major": {"planning": timedelta(days=10), "plan_submitted": timedelta(days=5), "plan_approved": timedelta(days=3),
              "scheduled": timedelta(days=5), "packaging": timedelta(days=3), "building": timedelta(days=10),
              "built": timedelta(days=1), "testing": timedelta(days=10), "tests_passed": timedelta(days=2),
              "plans_updated": timedelta(days=3), "ready": timedelta(days=3), "go": timedelta(days=1),
              "backed_up": timedelta(days=1), "deploying": timedelta(hours=12), "deployed": timedelta(days=1),
              "verified": timedelta(days=3), "evaluated": timedelta(days=2), "in_review": timedelta(days=5),
              "succeeded": timedelta(days=3), "rolling_back": timedelta(hours=6), "rolled_back": timedelta(days=3)},
    "minor": {"planning": timedelta(days=5), "plan_submitted": timedelta(days=2), "plan_approved": timedelta(days=2),
              "scheduled": timedelta(days=3), "packaging": timedelta(days=2), "building": timedelta(days=5),
              "built": timedelta(days=1), "testing": timedelta(days=5), "tests_passed": timedelta(days=1),
              "plans_updated": timedelta(days=2), "ready": timedelta(days=1), "go": timedelta(days=1),
              "backed_up": timedelta(hours=12), "deploying": timedelta(hours=6), "deployed": timedelta(hours=12),
              "verified": timedelta(days=2), "evaluated": timedelta(days=1), "in_review": timedelta(days=3),
              "succeeded": timedelta(days=2), "rolling_back": timedelta(hours=4), "rolled_back": timedelta(days=2)},
    "emergency": {"planning": timedelta(hours=4), "plan_submitted": timedelta(hours=2),
                  "plan_approved": timedelta(hours=2), "scheduled": timedelta(hours=2), "packaging": timedelta(hours=2),
                  "building": timedelta(hours=6), "built": timedelta(hours=1), "testing": timedelta(hours=6),
                  "tests_passed": timedelta(hours=1), "plans_updated": timedelta(hours=2), "ready": timedelta(hours=1),
                  "go": timedelta(hours=1), "backed_up": timedelta(hours=1), "deploying": timedelta(hours=4),
                  "deployed": timedelta(hours=4), "verified": timedelta(days=1), "evaluated": timedelta(days=1),
                  "in_review": timedelta(days=2), "succeeded": timedelta(days=1), "rolling_back": timedelta(hours=2),
                  "rolled_back": timedelta(days=1)},
}
DUE_SOON = timedelta(days=1)
DOWNTIME_NOTICE = timedelta(days=2)


@shared_task(acks_late=True, ignore_result=True)
def send_reminders() -> dict:
    """CAB votes waiting too long, tasks due soon, overdue tasks escalated to
    the release manager, downtime broadcast before a deployment window. Each
    reminder is an outbox message whose key makes it go out once per day."""
    from .models import Release, TransitionLog
    from .notifications import enqueue

    now = timezone.now()
    today = now.date().isoformat()
    counts = {"cab": 0, "due": 0, "overdue": 0, "downtime": 0}
    with transaction.atomic():
        for release in Release.objects.filter(state="plan_submitted"):
            since = TransitionLog.objects.filter(object_id=release.pk, content_type__model="release",
                                                 name="submit_plan").order_by("-at").values_list("at", flat=True)
            since = since.first()
            target = STEP_TARGETS[release.release_type]["plan_submitted"]
            if since and now - since > target:
                counts["cab"] += enqueue(release, event="cab_vote_reminder", occurrence=f"cab-{release.pk}-{today}")
        for task, kind in _tasks_to_remind(now):
            counts[kind] += _task_reminder(task, kind, today)
        for release in Release.objects.filter(state__in=("go", "backed_up", "ready", "plans_updated", "scheduled",
                                                         "packaging", "building", "built", "testing",
                                                         "tests_passed")).prefetch_related("plans"):
            plan = release.current_plan
            if plan and plan.downtime_expected and plan.deployment_start and \
                    now <= plan.deployment_start <= now + DOWNTIME_NOTICE:
                counts["downtime"] += enqueue(
                    release, event="downtime_broadcast", occurrence=f"downtime-{release.pk}-{plan.version}",
                    extra=f"Downtime expected from {plan.deployment_start:%Y-%m-%d %H:%M} to "
                          f"{plan.deployment_end:%Y-%m-%d %H:%M} UTC.")
    return counts


def _tasks_to_remind(now):
    from .models import Task

    active = Task.objects.filter(state__in=("open", "in_progress", "blocked")).exclude(
        release__state__in=("closed", "cancelled")).select_related("release", "assignee_user", "assignee_team",
                                                                   "assignee_vendor")
    for task in active.filter(planned_end__gt=now, planned_end__lte=now + DUE_SOON):
        yield task, "due"
    for task in active.filter(planned_end__lte=now):
        yield task, "overdue"


def _task_reminder(task, kind, today) -> int:
    from .notifications import ASSIGNEES, RM, enqueue

    if kind == "due":
        return enqueue(task.release, event="task_due_soon", subject_obj=task, audiences=(ASSIGNEES,),
                       occurrence=f"due-{task.pk}-{today}",
                       extra=f"Task '{task.title}' is due {task.planned_end:%Y-%m-%d %H:%M} UTC.")
    return enqueue(task.release, event="task_overdue", subject_obj=task, audiences=(ASSIGNEES, RM),
                   occurrence=f"overdue-{task.pk}-{today}",
                   extra=f"Task '{task.title}' was due {task.planned_end:%Y-%m-%d %H:%M} UTC and is "
                         f"{task.get_state_display().lower()}: escalated to the release manager.")
