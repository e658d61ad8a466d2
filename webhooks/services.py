"""The only writers of subscriptions and redeliveries: the API, the page and
the admin call these. Who may is asked here, whatever the entry point
(``authz.manages_integrations``), and a refusal is kept."""
from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction

from notifications.notices import relay_in_process
from releasemgmt.authz import manages_integrations
from releasemgmt.errors import Blocker, InvalidState, TransitionForbidden
from releasemgmt.refusals import logs_refusals
from releases.choices import OutboxStatus

from . import catalog, urlpolicy
from .delivery import queue
from .models import Delivery, Subscription

EDITABLE = ("url", "description", "event_types", "active")


MANAGERS_ONLY = "Only a release manager or an administrator may manage event subscriptions."


def _require_manager(by, action: str) -> None:
    if not manages_integrations(by):
        raise TransitionForbidden(action, MANAGERS_ONLY)


@logs_refusals()
def manage_check(*, by) -> None:
    """403 (kept) for whoever may not manage subscriptions, asked before a
    write is read."""
    _require_manager(by, "manage_webhooks")


def _clean(fields: dict) -> dict:
    errors = {}
    if "url" in fields:
        why = urlpolicy.refusal(fields["url"])
        if why:
            errors["url"] = why
    if "event_types" in fields:
        types = fields["event_types"]
        unknown = [t for t in types if t not in catalog.EVENT_TYPES] if isinstance(types, list) else None
        if unknown is None or not types:
            errors["event_types"] = "Give a list of one or more event types."
        elif unknown:
            errors["event_types"] = (f"Unknown event type {', '.join(map(str, unknown))}; known: "
                                     f"{', '.join(catalog.EVENT_TYPES)}.")
        else:
            fields["event_types"] = sorted(set(types), key=list(catalog.EVENT_TYPES).index)
    if errors:
        raise ValidationError(errors)
    return fields


@logs_refusals()
@transaction.atomic
def subscription_create(*, by, url: str, event_types, description: str = "",
                        active: bool = True) -> tuple[Subscription, str]:
    """A subscription, returned with its secret: the one time it is seen."""
    _require_manager(by, "create_webhook")
    fields = _clean({"url": url, "event_types": event_types})
    subscription = Subscription(description=description, active=active, created_by=by, **fields)
    secret = subscription.set_new_secret()
    subscription.full_clean()
    subscription._history_user = by
    subscription.save()
    return subscription, secret


@logs_refusals(subject=lambda kw: (Subscription, kw["subscription_id"]))
@transaction.atomic
def subscription_update(*, subscription_id, by, **fields) -> Subscription:
    """Change where events go, which, or pause and resume (the secret stays)."""
    _require_manager(by, "update_webhook")
    refused = set(fields) - set(EDITABLE)
    if refused:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(refused)})
    subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
    for name, value in _clean(fields).items():
        setattr(subscription, name, value)
    subscription.full_clean()
    subscription._history_user = by
    subscription.save()
    return subscription


@logs_refusals(subject=lambda kw: (Subscription, kw["subscription_id"]))
@transaction.atomic
def redeliver(*, subscription_id, delivery_id, by) -> Delivery:
    """Send a delivery again, with the same ``webhook-id`` (a subscriber that
    has it already can tell), through a new outbox row: its attempts go on
    the same delivery log. Not while it is still being sent (409)."""
    _require_manager(by, "redeliver_webhook")
    delivery = (Delivery.objects.select_for_update(of=("self",)).select_related("subscription", "message")
                .get(pk=delivery_id, subscription_id=subscription_id))
    current = delivery.message
    if current is not None and current.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
        message = "This delivery is still queued: the relay sends it (and retries it) by itself."
        raise InvalidState("redeliver_webhook", message, [Blocker("delivery_queued", message)])
    queue(delivery, url=delivery.subscription.url, dedupe_key=f"webhook:{delivery.key}:again:{uuid.uuid4().hex}")
    transaction.on_commit(relay_in_process)
    return delivery
