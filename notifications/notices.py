"""Who is told what: one table for every transition of the release process.

``enqueue`` writes one outbox row per (event, recipient, channel) inside the
transition's transaction; ``notifications.tasks.deliver_outbox`` delivers them
afterwards. Nothing here talks to the broker: with a broker, Celery beat runs
the relay every few seconds; without one (``make run``) the relay runs in
process right after the commit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string

from calendars.entries import entries, to_ical
from releasemgmt import authz
from releasemgmt.celery import app as celery_app
from releasemgmt.workflow import name_of
from releases.choices import Channel
from releases.models import OutboxMessage, Release
from releases.services import DEPLOYMENT_FAILED

from .tasks import deliver_outbox
from .vendors import task_payload

# Audiences; each resolves to users of one release.
RM = "release_manager"
CAB = "cab_members"
ASSIGNEES = "assignees"
REQUESTERS = "requesters"
STAKEHOLDERS = "stakeholders"
CI_STAKEHOLDERS = "ci_stakeholders"  # owners of the CIs in scope and of the CIs depending on them
CHANGE = "change_managers"
DELIVERY = "delivery_managers"
BUILD = "build_team"
TEST = "test_team"
DEPLOY = "deployment_team"
EVERYONE = "everyone"


@dataclass(frozen=True)
class Notice:
    audiences: tuple[str, ...]
    subject: str
    calendar: bool = False  # attach the release's calendar (.ics)


# The table: transition (or event) -> who is told, about what. {release} is
# "REL-00001 Title".
WHO_IS_TOLD = {
    "submit_plan": Notice((CAB,), "Release plan for {release} awaits your CAB vote"),
    "approve_plan": Notice((RM,), "The CAB approved the plan of {release}"),
    "reject_plan": Notice((RM,), "The CAB rejected the plan of {release}"),
    "schedule": Notice((ASSIGNEES, STAKEHOLDERS, CI_STAKEHOLDERS), "{release} is scheduled: activities and calendar",
                       calendar=True),
    "reschedule": Notice((ASSIGNEES, STAKEHOLDERS, CI_STAKEHOLDERS), "{release} was rescheduled", calendar=True),
    "start_build": Notice((BUILD,), "{release} is ready to build"),
    "start_testing": Notice((TEST,), "{release} is ready for testing"),
    "fail_tests": Notice((BUILD, RM), "{release} failed mandatory tests and is back in build"),
    "update_plans": Notice((CHANGE, STAKEHOLDERS), "Updated release and rollback plans for {release}"),
    "prepare": Notice((DELIVERY,), "{release} is ready for the Go/No-Go decision"),
    "approve_go": Notice((RM, STAKEHOLDERS), "Go for {release}"),
    "no_go": Notice((RM, STAKEHOLDERS), "No-Go for {release}"),
    "start_deployment": Notice((STAKEHOLDERS, CI_STAKEHOLDERS, ASSIGNEES), "Deployment of {release} has started"),
    "complete_deployment": Notice((RM,), "Deployment of {release} is complete"),
    # Reported by the deployer (a pipeline at the gate): the release goes to rollback on their advice.
    DEPLOYMENT_FAILED: Notice((DELIVERY, CHANGE, RM), "Deployment of {release} failed: your advice on a rollback "
                                                      "is asked for"),
    "verify_deployment": Notice((CHANGE,), "{release} is deployed and healthy: change evaluation due"),
    "accept": Notice((RM, REQUESTERS), "{release} succeeded"),
    "rollback": Notice((EVERYONE,), "{release} is being rolled back"),
    "complete_rollback": Notice((REQUESTERS, RM, CHANGE), "{release} was rolled back: your change failed"),
    "close": Notice((CHANGE, REQUESTERS), "{release} is closed"),
    "cancel": Notice((EVERYONE,), "{release} was cancelled"),
    # Sent by Celery beat:
    "cab_vote_reminder": Notice((CAB,), "Reminder: {release} still awaits your CAB vote"),
    "downtime_broadcast": Notice((STAKEHOLDERS, CI_STAKEHOLDERS), "Planned downtime: {release}"),
}


def _users(condition: Q) -> Q:
    """The users matching ``condition``, as a condition on their id alone.

    Each audience is its own subquery: OR-ing audiences whose conditions
    join to-many relations (tasks, teams, vendors, groups, RFCs) in one query
    made PostgreSQL multiply every join by every other, estimate a vast
    number of rows and JIT-compile the query for a handful of users."""
    return Q(pk__in=get_user_model().objects.filter(condition).values("pk"))


def _group(name):
    return _users(Q(groups__name=name))


def audience_filter(release, audience: str) -> Q:
    if audience == RM:
        return Q(pk=release.release_manager_id)
    if audience == CAB:
        return _group("cab_member") & ~Q(pk__in=release.conflicted_user_ids())
    if audience == CHANGE:
        return _group("change_manager")
    if audience == DELIVERY:
        return _group("delivery_manager")
    if audience == STAKEHOLDERS:
        return _group("stakeholder")
    if audience == BUILD:
        return _group("build_team")
    if audience == TEST:
        return _group("test_team")
    if audience == DEPLOY:
        return _group("deployment_team")
    if audience == REQUESTERS:
        return _users(Q(rfcs__releases=release))
    if audience == CI_STAKEHOLDERS:
        ci_ids = [i.ci_id for i in release.scope_items.all()]
        return _users(Q(owned_cis__in=ci_ids)) | _users(Q(owned_cis__depends_on__in=ci_ids))
    if audience == ASSIGNEES:
        tasks = release.tasks.exclude(state="cancelled")
        return (_users(Q(release_tasks__in=tasks)) | _users(Q(teams__tasks__in=tasks))
                | _users(Q(vendors__tasks__in=tasks)))
    if audience == EVERYONE:
        q = Q(pk__in=[])
        for a in (RM, ASSIGNEES, REQUESTERS, STAKEHOLDERS, CHANGE):
            q |= audience_filter(release, a)
        return q
    raise ValueError(audience)


def recipient_users(release, audiences):
    """Active users with an address in these audiences: a queryset."""
    q = Q(pk__in=[])
    for audience in audiences:
        q |= audience_filter(release, audience)
    return get_user_model().objects.filter(q, is_active=True).exclude(email="")


def recipients(release, audiences) -> dict[str, object]:
    """Active users with an address, by address, for these audiences, with
    their roles and vendors read (what an attachment may show each)."""
    users = list(recipient_users(release, audiences).prefetch_related("groups", "vendors"))
    authz.prime(users)
    return {u.email: u for u in users}


# Line breaks and other control characters (a title may hold them): an email
# header is one line, and Django refuses to send a subject with a newline.
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """``text`` as an email subject: line breaks and control characters
    become one space each run, so any title makes a sendable header."""
    return " ".join(_NOT_ONE_LINE.sub(" ", text).split())


def calendars_for(release, users) -> dict[object, str]:
    """The release's calendar (.ics) as each of ``users`` may see it (no
    other vendor's tasks for a vendor's user, nothing for someone without a
    role), by user: rendered once per distinct view, not per recipient."""
    by_view: dict[tuple, str] = {}
    out = {}
    for user in users:
        view = authz.reader(user).key
        if view not in by_view:
            by_view[view] = to_ical(entries(release=release, viewer=user), name=f"{release.number} {release.title}",
                                    method="PUBLISH").decode()
        out[user] = by_view[view]
    return out


def release_link(release) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/releases/{release.pk}/"


def _render(release, event, subject, by, payload, extra=""):
    context = {"release": release, "event": event, "subject": subject, "by": by, "link": release_link(release),
               "reason": str((payload or {}).get("reason") or ""), "extra": extra,
               "admin_link": f"{settings.SITE_URL.rstrip('/')}/admin/releases/release/{release.pk}/change/"}
    return (render_to_string("releases/email/notification.txt", context),
            render_to_string("releases/email/notification.html", context))


def enqueue(release, *, event: str, by=None, payload=None, log=None, subject_obj=None, occurrence=None,
            audiences=None, extra: str = "") -> int:
    """Write the event's messages to the outbox; returns how many."""
    notice = WHO_IS_TOLD.get(event)
    if notice is None and audiences is None:
        return 0
    audiences = audiences or notice.audiences
    subject = one_line((notice.subject if notice else "{release}: " + event.replace("_", " ")).format(
        release=f"{release.number} {release.title}"))
    occurrence = occurrence or (f"log{log.pk}" if log else f"{event}-{release.pk}")
    text, html = _render(release, event, subject, by, payload, extra)
    to = recipients(release, audiences)
    # The attached calendar is each recipient's own view of the release.
    ics = calendars_for(release, to.values()) if notice and notice.calendar else {}
    obj = subject_obj or release
    ct = ContentType.objects.get_for_model(type(obj))
    channel = Channel.CALENDAR if ics else Channel.EMAIL
    rows = [
        OutboxMessage(
            event=event, release=release, content_type=ct, object_id=obj.pk, channel=channel,
            recipient=email, subject=subject, body=text,
            payload={"html": html, "ics": ics.get(to[email], ""), "release": release.pk,
                     "by": getattr(by, "pk", None)},
            dedupe_key=f"{occurrence}:{channel}:{email}",
        )
        for email in sorted(to)
    ]
    if event == name_of(Release.schedule):
        rows += _vendor_routing(release, occurrence, ct, by)
    # One message per (event occurrence, recipient, channel), however often
    # the same occurrence is enqueued (a reminder run twice a day, say).
    existing = set(OutboxMessage.objects.filter(dedupe_key__in=[r.dedupe_key for r in rows])
                   .values_list("dedupe_key", flat=True))
    rows = [r for r in rows if r.dedupe_key not in existing]
    for row in rows:
        row.save()  # one by one so each gets its history row
    if rows:
        transaction.on_commit(relay_in_process)
    return len(rows)


def on_release_event(event) -> None:
    """The listener the release process announces to (``releasemgmt.events``):
    every transition and reschedule, told to whom ``WHO_IS_TOLD`` says."""
    enqueue(event.obj, event=event.name, by=event.by, payload=event.payload, log=event.log, **event.extra)


def on_communication(event) -> None:
    """A communication written (``releases.services.record_add``): one email
    (text and HTML) per recipient its audience resolved to, written to the
    outbox in the record's transaction. The relay delivers them; the delivery
    log and the record show each one's outcome."""
    record, to = event.obj, event.extra["recipients"]
    release = record.release
    context = {"communication": record, "release": release, "by": event.by, "link": release_link(release)}
    text = render_to_string("releases/email/communication.txt", context)
    html = render_to_string("releases/email/communication.html", context)
    subject = one_line(f"{release.number}: {record.subject}")
    ct = ContentType.objects.get_for_model(type(record))
    for email in sorted(to):
        OutboxMessage(
            event=record.kind, release=release, content_type=ct, object_id=record.pk, channel=Channel.EMAIL,
            recipient=email, subject=subject, body=text,
            payload={"html": html, "release": release.pk, "communication": record.pk,
                     "by": getattr(event.by, "pk", None)},
            dedupe_key=f"communication-{record.pk}:email:{email}"[:200],
        ).save()  # one by one so each gets its history row
    transaction.on_commit(relay_in_process)


def _vendor_routing(release, occurrence, ct, by):
    """Step 3: each vendor task goes to the vendor's system (signed webhook),
    or by email to the vendor's queue when it has no integration."""
    rows = []
    for task in release.tasks.filter(assignee_vendor__isnull=False).select_related("assignee_vendor", "release"):
        vendor = task.assignee_vendor
        task_ct = ContentType.objects.get_for_model(type(task))
        if vendor.integration_url and vendor.has_secret:
            rows.append(OutboxMessage(
                event="route_vendor_task", release=release, content_type=task_ct, object_id=task.pk,
                channel=Channel.WEBHOOK, recipient=vendor.integration_url,
                subject=one_line(f"{release.number}: {task.title}"),
                payload={"vendor": vendor.pk, "body": task_payload(task)},
                dedupe_key=f"{occurrence}:webhook:task-{task.pk}",
            ))
        elif vendor.email:
            text = (f"{vendor.name}: a release activity is assigned to your queue.\n\n"
                    f"{release.number} {release.title}\nTask: {task.title}\n"
                    f"Planned: {task.planned_start:%Y-%m-%d %H:%M} – {task.planned_end:%Y-%m-%d %H:%M} UTC\n\n"
                    f"{release_link(release)}\n")
            rows.append(OutboxMessage(
                event="route_vendor_task", release=release, content_type=task_ct, object_id=task.pk,
                channel=Channel.EMAIL, recipient=vendor.email, subject=one_line(f"{release.number}: {task.title}"),
                body=text, payload={"vendor": vendor.pk},
                dedupe_key=f"{occurrence}:email:task-{task.pk}:{vendor.email}",
            ))
    return rows


def relay_in_process():
    """Without a broker (``make run``) deliver right after the commit. With a
    broker this does nothing: the beat-driven relay delivers, and the request
    never waits on Redis."""
    if celery_app.conf.task_always_eager:
        deliver_outbox.apply()
