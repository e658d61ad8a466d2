"""Deliveries: written to the outbox with the change they tell of, sent by
its relay, signed per the Standard Webhooks specification.

``on_event`` listens to the process (``releasemgmt.events``) inside the
transaction of the change: for each active subscription to one of the
event's types it writes a ``Delivery`` and its outbox row, so a rolled-back
change tells nobody and a committed one is told however long the subscriber
is away. The relay (``notifications.tasks``) claims the row and calls
``send``, which POSTs the body with three headers:

    webhook-id:        the delivery's id, the same on every attempt and redelivery
    webhook-timestamp: unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>

and records the attempt in the delivery log. A non-2xx answer (a redirect
included: none is followed) or no answer is a failure: the relay retries
with an exponential backoff, then gives up (``failed``); a release manager
can then redeliver it.
"""
from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from notifications.notices import relay_in_process
from notifications.vendors import DeliveryError
from releases.choices import Channel
from releases.models import OutboxMessage

from . import catalog, urlpolicy
from .models import Delivery, DeliveryAttempt, Subscription

SENDER = "webhooks"
USER_AGENT = "releasemgmt-webhooks/1"


def on_event(event) -> None:
    """The listener (``releasemgmt.events``): the event's deliveries, into the outbox."""
    types = catalog.types_of(event)
    if not types:
        return
    wanted = [(sub, name) for sub in Subscription.objects.filter(active=True).only("id", "url", "event_types")
              for name in types if name in sub.event_types]
    if not wanted:
        return
    occurrence = catalog.occurrence_of(event)
    keys = {(sub.pk, name): _key(sub.pk, name, occurrence) for sub, name in wanted}
    with transaction.atomic():
        known = set(Delivery.objects.filter(key__in=keys.values()).values_list("key", flat=True))
        fresh = [(sub, name) for sub, name in wanted if keys[sub.pk, name] not in known]
        if not fresh:
            return
        data = json.loads(json.dumps(catalog.data_of(event), cls=DjangoJSONEncoder))
        at = (event.log.at if event.log is not None else timezone.now()).isoformat()
        for sub, name in fresh:
            delivery = Delivery.objects.create(
                subscription=sub, webhook_id=f"msg_{uuid.uuid4().hex}", event_type=name, key=keys[sub.pk, name],
                body={"type": name, "timestamp": at, "data": data})
            queue(delivery, url=sub.url, dedupe_key=f"webhook:{delivery.key}")
        transaction.on_commit(relay_in_process)


def _key(subscription_id: int, name: str, occurrence: str) -> str:
    return hashlib.sha256(f"{subscription_id}:{name}:{occurrence}".encode()).hexdigest()


def queue(delivery: Delivery, *, url: str, dedupe_key: str) -> OutboxMessage:
    """An outbox row that sends ``delivery`` (its first, or a redelivery)."""
    message = OutboxMessage.objects.create(
        event=delivery.event_type, content_type=ContentType.objects.get_for_model(Delivery),
        object_id=delivery.pk, channel=Channel.WEBHOOK, recipient=url[:300],
        subject=f"{delivery.event_type} {delivery.webhook_id}", payload={"sender": SENDER},
        dedupe_key=dedupe_key[:200])
    delivery.message = message
    delivery.save(update_fields=["message"])
    return message


def body_bytes(delivery: Delivery) -> bytes:
    return json.dumps(delivery.body, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(secret: str, webhook_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(dt_timezone.utc)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the subscriber's answer, not a new destination (which
    the URL policy has not checked)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    """POST; the HTTP status (None without an answer) and why it failed ('' if it did not)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
    try:
        with _OPENER.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return None, f"No answer: {getattr(exc, 'reason', exc)}"[:2000]
    return status, "" if 200 <= status < 300 else f"The subscriber answered HTTP {status}."


def send(row: OutboxMessage) -> None:
    """The relay's sender for a delivery's row: sign, POST, log the attempt;
    raise on failure, so the relay retries it."""
    delivery = Delivery.objects.select_related("subscription").get(pk=row.object_id)
    subscription = delivery.subscription
    started = time.monotonic()
    status, error = None, ""
    if not subscription.active:
        error = "The subscription is paused."
    else:
        error = urlpolicy.destination_refusal(subscription.url)
    if not error:
        body = body_bytes(delivery)
        status, error = _post(subscription.url, body,
                              signed_headers(subscription.signing_secret(), delivery.webhook_id, body))
    DeliveryAttempt.objects.create(
        delivery=delivery, attempt=delivery.attempts.count() + 1, at=timezone.now(), status_code=status,
        error=error, duration_ms=int((time.monotonic() - started) * 1000))
    if error:
        raise DeliveryError(error)
