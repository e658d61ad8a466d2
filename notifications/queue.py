"""Telling people that work landed in their queue.

The release process announces each step (``releasemgmt.events``); after a
release or an RFC moves, the people who may now have work about it (the roles
its declared next steps, records and baseline wait on, its manager, the
assignees of its tasks) are asked what waits on them about it, through the
same selector their dashboard reads (``releases.selectors.waiting``). Each
new item is noted once (``QueueNotice``, by the item's key): told at once by
an outbox email, or kept for the daily digest that Celery beat sends
(``send_queue_digests``). The one who took the step is not told of the work
it left them: they are looking at it.
"""
from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from changes.models import ChangeRequest
from changes.services import RFC_RAISED
from releases.choices import Channel
from releases.models import OutboxMessage, Release
from releases.selectors.access import ACTIVE_TASK_STATES
from releases.selectors.waiting import roles_waited_on, work_queue

from .models import QueueDelivery, QueueNotice, QueuePreference
from .notices import one_line, relay_in_process

QUEUE_EVENT = "queue_item"
DIGEST_EVENT = "queue_digest"
# A release's step leaves a person a few items at most; the bound keeps a
# misdeclared step from writing thousands of messages in one transaction.
ITEMS_PER_EVENT = 50


def _site(url: str) -> str:
    return settings.SITE_URL.rstrip("/") + url


def _people(obj):
    """Active users with an address who may now have work about ``obj``."""
    who = Q(groups__name__in=sorted(roles_waited_on(obj)))
    if isinstance(obj, Release):
        tasks = obj.tasks.filter(state__in=ACTIVE_TASK_STATES)
        who |= (Q(pk=obj.release_manager_id) | Q(release_tasks__in=tasks) | Q(teams__tasks__in=tasks)
                | Q(vendors__tasks__in=tasks))
    ids = get_user_model().objects.filter(who).values("pk")
    return (get_user_model().objects.filter(pk__in=ids, is_active=True).exclude(email="")
            .select_related("queue_preference").order_by("pk"))


def _delivery(user) -> str:
    try:
        return user.queue_preference.delivery
    except QueuePreference.DoesNotExist:
        return QueueDelivery.IMMEDIATE


def _email(user, notices, *, subject, event, obj, dedupe_key, release=None):
    context = {"user": user, "notices": [(n, _site(n.url)) for n in notices], "subject": subject}
    return OutboxMessage(
        event=event, release=release, content_type=ContentType.objects.get_for_model(type(obj)), object_id=obj.pk,
        channel=Channel.EMAIL, recipient=user.email, subject=one_line(subject),
        body=render_to_string("notifications/queue_email.txt", context),
        payload={"html": render_to_string("notifications/queue_email.html", context), "user": user.pk},
        dedupe_key=dedupe_key)


def tell(user, items, obj, *, told=False) -> int:
    """Note each of ``items`` waiting on ``user`` not noted before; the new
    ones go out now, by email, unless the user reads a daily digest or was
    just ``told`` of the step by its own notice (``notices.WHO_IS_TOLD``:
    "... awaits your CAB vote"), which links to the same release. Returns
    how many messages were written to the outbox."""
    delivery, sent = _delivery(user), 0
    release = obj if isinstance(obj, Release) else None
    for item in items:
        notice, created = QueueNotice.objects.get_or_create(user=user, key=item.key, defaults={
            "action": item.action[:300], "subject": item.subject[:300], "url": item.url, "delivery": delivery,
            "release_id": item.release_id})
        if not created or delivery != QueueDelivery.IMMEDIATE or told:
            continue
        _email(user, [notice], subject=f"Waiting on you: {item.action} · {item.subject}", event=QUEUE_EVENT,
               obj=obj, release=release, dedupe_key=f"queue:{user.pk}:{item.key}"[:200]).save()
        sent += 1
    if sent:
        transaction.on_commit(relay_in_process)
    return sent


def on_moved(event) -> None:
    """A release or an RFC took a step (or an RFC was raised): tell whoever
    now has work about it."""
    obj = event.obj
    if event.log is None and not (isinstance(obj, ChangeRequest) and event.name == RFC_RAISED):
        return
    scope = {"rfc_id": obj.pk} if isinstance(obj, ChangeRequest) else {"release_id": obj.pk}
    # Those the step's own notice went to (written just before, by
    # notices.on_release_event, under the log row's occurrence).
    told = set(OutboxMessage.objects.filter(dedupe_key__startswith=f"log{event.log.pk}:")
               .values_list("recipient", flat=True)) if event.log is not None else set()
    for user in _people(obj):
        if event.by is not None and user.pk == event.by.pk:
            continue
        tell(user, work_queue(user, limit=ITEMS_PER_EVENT, **scope).items, obj, told=user.email in told)


@shared_task(name="notifications.queue.send_queue_digests", acks_late=True, ignore_result=True)
def send_queue_digests() -> int:
    """The daily digest: for each person who asked for one, one email listing
    the items that landed in their queue since their last digest. Returns how
    many digests were written to the outbox."""
    now = timezone.now()
    with transaction.atomic():
        due = list(QueueNotice.objects.select_for_update().filter(
            delivery=QueueDelivery.DIGEST, digested_at__isnull=True).select_related("user").order_by("user", "pk"))
        by_user: dict = {}
        for notice in due:
            by_user.setdefault(notice.user, []).append(notice)
        for user, notices in by_user.items():
            if user.is_active and user.email:
                n = len(notices)
                _email(user, notices, subject=f"Waiting on you: {n} new item{'s' if n != 1 else ''}",
                       event=DIGEST_EVENT, obj=user, dedupe_key=f"queue-digest:{user.pk}:{notices[-1].pk}").save()
        QueueNotice.objects.filter(pk__in=[n.pk for n in due]).update(digested_at=now)
        if by_user:
            transaction.on_commit(relay_in_process)
    return len(by_user)
