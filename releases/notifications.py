"""Who is told what: one table for every transition of the release process.

``enqueue`` writes one outbox row per recipient inside the transition's
transaction; the Celery relay (``releases.tasks.deliver_outbox``) delivers
them after commit. Nothing here talks to the broker.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from .choices import Channel

# Audiences a message can go to; each resolves to users of the release.
RM = "release_manager"
CAB = "cab_members"
ASSIGNEES = "assignees"
REQUESTERS = "requesters"
STAKEHOLDERS = "stakeholders"
CHANGE = "change_managers"
BUILD = "build_team"
TEST = "test_team"
EVERYONE = "everyone"

# transition -> (audiences, subject). {release} is "REL-00001 Title".
WHO_IS_TOLD = {
    "submit_plan": ((CAB,), "Release plan for {release} awaits your CAB vote"),
    "approve_plan": ((RM,), "The CAB approved the plan of {release}"),
    "reject_plan": ((RM,), "The CAB rejected the plan of {release}"),
    "schedule": ((ASSIGNEES, STAKEHOLDERS), "{release} is scheduled: your activities and the calendar"),
    "start_build": ((BUILD,), "{release} is ready to build"),
    "start_testing": ((TEST,), "{release} is ready for testing"),
    "fail_tests": ((BUILD, RM), "{release} failed mandatory tests and is back in build"),
    "update_plans": ((CHANGE, STAKEHOLDERS), "Updated release and rollback plans for {release}"),
    "approve_go": ((RM, STAKEHOLDERS), "Go for {release}"),
    "no_go": ((RM, STAKEHOLDERS), "No-Go for {release}"),
    "start_deployment": ((STAKEHOLDERS, ASSIGNEES), "Deployment of {release} has started"),
    "complete_deployment": ((RM,), "Deployment of {release} is complete"),
    "accept": ((RM, REQUESTERS), "{release} succeeded"),
    "rollback": ((EVERYONE,), "{release} is being rolled back"),
    "complete_rollback": ((REQUESTERS, RM, CHANGE), "{release} was rolled back: your change failed"),
    "close": ((CHANGE, REQUESTERS), "{release} is closed"),
    "cancel": ((EVERYONE,), "{release} was cancelled"),
}


def _group_users(name):
    return get_user_model().objects.filter(groups__name=name, is_active=True)


def audience_users(release, audience: str):
    User = get_user_model()
    if audience == RM:
        return User.objects.filter(pk=release.release_manager_id)
    if audience == CAB:
        return _group_users("cab_member").exclude(pk__in=release.conflicted_user_ids())
    if audience == CHANGE:
        return _group_users("change_manager")
    if audience == STAKEHOLDERS:
        return _group_users("stakeholder")
    if audience == BUILD:
        return _group_users("build_team")
    if audience == TEST:
        return _group_users("test_team")
    if audience == REQUESTERS:
        return User.objects.filter(rfcs__releases=release)
    if audience == ASSIGNEES:
        tasks = release.tasks.all()
        return User.objects.filter(
            models_q(release_tasks__in=tasks) | models_q(teams__tasks__in=tasks) | models_q(vendors__tasks__in=tasks)
        )
    if audience == EVERYONE:
        ids = set()
        for a in (RM, ASSIGNEES, REQUESTERS, STAKEHOLDERS, CHANGE):
            ids.update(audience_users(release, a).values_list("pk", flat=True))
        return User.objects.filter(pk__in=ids)
    raise ValueError(audience)


def models_q(**kw):
    from django.db.models import Q

    return Q(**kw)


def enqueue(release, *, event: str, by=None, payload=None, log=None, subject_obj=None) -> int:
    """Write the event's messages to the outbox; returns how many."""
    from .models import OutboxMessage

    rule = WHO_IS_TOLD.get(event)
    if rule is None:
        return 0
    audiences, subject = rule
    users = {}
    for audience in audiences:
        for user in audience_users(release, audience).distinct():
            if user.email:
                users[user.email] = user
    occurrence = log.pk if log else f"{event}-{release.pk}"
    subject_text = subject.format(release=f"{release.number} {release.title}")
    link = f"{settings.SITE_URL.rstrip('/')}/admin/releases/release/{release.pk}/change/"
    reason = str((payload or {}).get("reason") or "")
    body = f"{subject_text}.\n\nState: {release.get_state_display()}\n" + (f"Reason: {reason}\n" if reason else "") + f"\n{link}\n"
    obj = subject_obj or release
    ct = ContentType.objects.get_for_model(type(obj))
    rows = [
        OutboxMessage(
            event=event, release=release, content_type=ct, object_id=obj.pk, channel=Channel.EMAIL,
            recipient=email, subject=subject_text, body=body,
            payload={"release": release.pk, "state": release.state, "by": getattr(by, "pk", None)},
            dedupe_key=f"{occurrence}:{Channel.EMAIL}:{email}",
        )
        for email in sorted(users)
    ]
    for row in rows:
        row.save()  # one by one so each gets its history row
    if rows:
        transaction.on_commit(kick_relay)
    return len(rows)


def kick_relay():
    """Ask a worker to deliver now; if the broker is down the beat relay will."""
    from .tasks import deliver_outbox

    try:
        deliver_outbox.delay()
    except Exception:  # noqa: BLE001 - a broker outage must not fail a committed request
        import logging

        logging.getLogger(__name__).warning("Outbox relay not reachable; messages wait for the next relay run.")
