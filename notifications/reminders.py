"""The reminders Celery beat sends: CAB votes waiting too long, tasks due
soon or overdue, and the downtime broadcast before a deployment window. Each
is an outbox message (``notifications.notices.enqueue``) that the relay
(``notifications.tasks``) delivers."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from releasemgmt.workflow import name_of
from releases.choices import STEP_TARGETS
from releases.models import Release, Task, TransitionLog

from .notices import ASSIGNEES, RM, enqueue

DUE_SOON = timedelta(days=1)
DOWNTIME_NOTICE = timedelta(days=2)


@shared_task(name="releases.tasks.send_reminders", acks_late=True, ignore_result=True)
def send_reminders() -> dict:
    """CAB votes waiting too long, tasks due soon, overdue tasks escalated to
    the release manager, downtime broadcast before a deployment window. Each
    reminder is an outbox message whose key makes it go out once per day."""
    now = timezone.now()
    today = now.date().isoformat()
    counts = {"cab": 0, "due": 0, "overdue": 0, "downtime": 0}
    with transaction.atomic():
        for release in Release.objects.filter(state="plan_submitted"):
            since = TransitionLog.objects.filter(object_id=release.pk, content_type__model="release",
                                                 name=name_of(Release.submit_plan)) \
                .order_by("-at").values_list("at", flat=True).first()
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
    active = Task.objects.filter(state__in=("open", "in_progress", "blocked")).exclude(
        release__state__in=("closed", "cancelled")).select_related("release", "assignee_user", "assignee_team",
                                                                   "assignee_vendor")
    for task in active.filter(planned_end__gt=now, planned_end__lte=now + DUE_SOON):
        yield task, "due"
    for task in active.filter(planned_end__lte=now):
        yield task, "overdue"


def _task_reminder(task, kind, today) -> int:
    if kind == "due":
        return enqueue(task.release, event="task_due_soon", subject_obj=task, audiences=(ASSIGNEES,),
                       occurrence=f"due-{task.pk}-{today}",
                       extra=f"Task '{task.title}' is due {task.planned_end:%Y-%m-%d %H:%M} UTC.")
    return enqueue(task.release, event="task_overdue", subject_obj=task, audiences=(ASSIGNEES, RM),
                   occurrence=f"overdue-{task.pk}-{today}",
                   extra=f"Task '{task.title}' was due {task.planned_end:%Y-%m-%d %H:%M} UTC and is "
                         f"{task.get_state_display().lower()}: escalated to the release manager.")
