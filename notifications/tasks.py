"""Celery tasks: the outbox relay and the reminders Celery beat sends.

The relay runs on a beat schedule (and in process when there is no broker),
so a request never talks to Redis. Each message goes through three steps,
none of them holding a transaction open while talking to the outside world:

1. **claim**, in a short transaction: the row, due and not locked by another
   relay, becomes ``sending`` with a lease (``lease_until``) and one more
   attempt; committed before anything is sent;
2. **send**, outside any transaction (mail server, vendor endpoint);
3. **settle**, in another short transaction: ``sent``, or back to ``pending``
   with a backoff (``failed`` after ``MAX_ATTEMPTS``).

A worker killed between 1 and 3 leaves the row ``sending``; once the lease
has expired it is due again. So a killed worker repeats at most the one
message it had in flight, and that repeat is recognisable: every email
carries a Message-ID derived from the row's key (occurrence and recipient),
the same on every attempt, so mail systems drop the second copy; webhooks
carry the same Idempotency-Key on every attempt.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from releases.choices import Channel, OutboxStatus
from releases.models import OutboxMessage, Task, Vendor

from .vendors import DeliveryError, post_signed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 15

# Senders the apps above this one provide for their own outbox rows, named by
# the row's ``payload["sender"]`` and registered in their AppConfig.ready
# (``register_sender``): such rows are claimed, retried with backoff and
# settled here like every message.
SENDERS: dict = {}


def register_sender(name: str, send) -> None:
    """``send(row)`` delivers one claimed row, raising on failure (retried)."""
    SENDERS[name] = send


def _due(now):
    pending = Q(status=OutboxStatus.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(status=OutboxStatus.SENDING) & Q(lease_until__lte=now)  # its relay died mid-send
    return OutboxMessage.objects.filter(pending | abandoned)


# Registered under the name it had before the module moved: queued messages
# and the beat schedule (settings.CELERY_BEAT_SCHEDULE) carry it.
@shared_task(name="releases.tasks.deliver_outbox", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_outbox(limit: int = 500) -> int:
    """Deliver what is due; returns how many messages went out."""
    now = timezone.now()
    ids = list(_due(now).order_by("id").values_list("id", flat=True)[:limit])
    return sum(1 for pk in ids if deliver_message(pk))


def _claimant() -> str:
    """Who holds a lease: the host and process (for the admin), and a nonce so
    two claims of the same row are never taken for one another."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]


def _claim(pk: int):
    """Step 1: lease the message to this relay, or None if it is not due or
    another relay holds it. Commits before returning."""
    now = timezone.now()
    with transaction.atomic():
        row = _due(now).select_for_update(skip_locked=True).filter(pk=pk).first()
        if row is None:  # delivered meanwhile, or another relay holds it
            return None
        if row.status == OutboxStatus.SENDING:
            # The relay that claimed it stopped before settling it: it may or
            # may not have gone out. Send again (same Message-ID or key), unless
            # it has taken down a relay as often as a message may fail.
            who = f"The relay {row.claimed_by}" if row.claimed_by else "A relay"
            row.last_error = f"{who} stopped while delivering it (lease expired)."
            if row.attempts >= MAX_ATTEMPTS:
                row.status = OutboxStatus.FAILED
                row.lease_until = None
                row._change_reason = "deliver"
                row.save()
                log.warning("outbox %s failed for good after %s attempts: %s", row.pk, row.attempts,
                            row.last_error)
                return None
        row.status = OutboxStatus.SENDING
        row.attempts += 1
        row.claimed_by = _claimant()
        row.lease_until = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
        row._change_reason = "claim"
        row.save()
        return row


def deliver_message(pk: int) -> bool:
    """Claim, send, settle one message; True if it went out."""
    row = _claim(pk)
    if row is None:
        return False
    try:
        ticket = _send(row)
    except Exception as exc:  # noqa: BLE001 - any delivery failure is retried, then recorded
        _settle(row, error=f"{type(exc).__name__}: {exc}"[:2000])
        return False
    _settle(row, error=None, ticket=ticket)
    return True


def _settle(claimed, *, error: str | None, ticket: str = "") -> None:
    """Step 3: record the outcome, in a transaction of its own."""
    with transaction.atomic():
        if ticket:
            _keep_ticket(claimed, ticket)
        row = OutboxMessage.objects.select_for_update().get(pk=claimed.pk)
        if row.status == OutboxStatus.SENT:
            return  # another relay took over after the lease ran out, and got there first
        if row.claimed_by != claimed.claimed_by and error is not None:
            return  # another relay took over: its outcome counts, not this failure
        if error is None:
            row.status = OutboxStatus.SENT
            row.sent_at = timezone.now()
            row.last_error = ""
        else:
            row.last_error = error
            if row.attempts >= MAX_ATTEMPTS:
                row.status = OutboxStatus.FAILED
                log.warning("outbox %s failed for good after %s attempts: %s", row.pk, row.attempts, error)
            else:
                row.status = OutboxStatus.PENDING
                row.next_attempt_at = timezone.now() + timedelta(seconds=BACKOFF_SECONDS * 2 ** (row.attempts - 1))
        row.lease_until = None
        row._change_reason = "deliver"
        row.save()


def message_id(row) -> str:
    """The Message-ID of an outbox email: derived from its key (occurrence,
    channel, recipient), so every attempt carries the same one and a mail
    system that already has it drops the repeat. The domain is the sender's,
    never this host's name, which differs between workers. Keyed with
    SECRET_KEY so that another deployment (a staging copy) writing to the same
    people never produces the same Message-ID, and the header does not reveal
    the key it comes from."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or \
        urlsplit(settings.SITE_URL).hostname or "localhost"
    digest = salted_hmac("releases.outbox.message-id", row.dedupe_key, algorithm="sha256").hexdigest()[:40]
    return f"<outbox.{digest}@{domain}>"


def _send(row) -> str:
    """Deliver one message; for a webhook, return the vendor's ticket."""
    sender = SENDERS.get(row.payload.get("sender", "")) if isinstance(row.payload, dict) else None
    if sender is not None:
        sender(row)
        return ""
    if row.channel == Channel.WEBHOOK:
        return _send_webhook(row)
    message = EmailMultiAlternatives(row.subject, row.body, settings.DEFAULT_FROM_EMAIL, [row.recipient],
                                     headers={"X-Release-Event": row.event, "Message-ID": message_id(row)})
    if row.payload.get("html"):
        message.attach_alternative(row.payload["html"], "text/html")
    if row.payload.get("ics"):
        message.attach("release.ics", row.payload["ics"], "text/calendar; method=PUBLISH; charset=utf-8")
    message.send()
    return ""


def _send_webhook(row) -> str:
    vendor = Vendor.objects.get(pk=row.payload["vendor"])
    if not vendor.has_secret:
        raise DeliveryError("the vendor has no integration secret any more (removed after this was queued)")
    answer = post_signed(vendor.integration_url, vendor.signing_secret(), row.payload["body"], row.dedupe_key)
    return str(answer.get("ticket") or "")[:200]


def _keep_ticket(row, ticket: str) -> None:
    """The vendor's ticket reference on the task the webhook was about."""
    task = Task.objects.select_for_update().get(pk=row.object_id)
    if task.vendor_ticket_ref != ticket:
        task.vendor_ticket_ref = ticket
        task._change_reason = "vendor ticket"
        task.save()
