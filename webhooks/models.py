"""Event subscriptions: outside tools told of what happens in the process.

An integration (a chat bot, a CMDB, a dashboard, another ticketing system)
subscribes a URL to event types; each event is delivered to it through the
outbox, signed per the Standard Webhooks specification. The process core
never reads these tables: the ``webhooks`` app listens to its events.
"""
from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from releasemgmt.authz import RestrictedQuerySet, ViaQuerySet, check_action, manages_integrations
from releasemgmt.secretbox import fingerprint, seal, unseal

# Standard Webhooks secrets read as ``whsec_`` and base64: what the
# ``standardwebhooks`` libraries (and Svix's) take as they are.
SECRET_PREFIX = "whsec_"


class SubscriptionQuerySet(RestrictedQuerySet):
    """Subscriptions (and what hangs on them) are for those who manage
    integrations (``authz.manages_integrations``), not for every reader."""

    def restrict(self, user, action: str = "view"):
        check_action(action)
        return self if manages_integrations(user) else self.none()


class DeliveryQuerySet(ViaQuerySet):
    restrict_via = "subscription"


class Subscription(models.Model):
    """An outside tool's standing request to be told of events of the
    release and change process (ITIL: part of the release's communication
    with the systems around it). Its secret signs every delivery; it is
    shown once, when the subscription is made, and kept sealed."""

    url = models.URLField(max_length=500, help_text="Where the events are POSTed.")
    description = models.CharField(max_length=200, blank=True, help_text="Which tool listens, and why.")
    event_types = models.JSONField(default=list, help_text="The event types delivered (see webhooks.catalog).")
    active = models.BooleanField(default=True, help_text="A paused subscription is sent nothing new.")
    secret_sealed = models.TextField(editable=False)
    secret_fingerprint = models.CharField(max_length=12, editable=False,
                                          help_text="First 12 hex digits of the secret's SHA-256.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    # The history keeps the fingerprint (who changed what when), never the sealed secret.
    history = HistoricalRecords(excluded_fields=["secret_sealed"])
    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["active"])]

    def __str__(self):
        return f"{self.url} ({self.secret_fingerprint})"

    def set_new_secret(self) -> str:
        """Give the subscription a new secret (in memory; the service saves)
        and return it: the one time it is seen."""
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        self.secret_sealed = seal(secret)
        self.secret_fingerprint = fingerprint(secret)
        return secret

    def signing_secret(self) -> str:
        return unseal(self.secret_sealed)


class Delivery(models.Model):
    """One event for one subscription: its body, signed and sent by the
    outbox relay with retries and backoff. ``webhook_id`` is the same on
    every attempt and every redelivery, so the subscriber handles it once."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    webhook_id = models.CharField(max_length=40, unique=True, editable=False)
    event_type = models.CharField(max_length=40)
    body = models.JSONField(help_text="The event as delivered (``type``, ``timestamp``, ``data``).")
    key = models.CharField(max_length=200, unique=True, editable=False,
                           help_text="One delivery per (subscription, event occurrence).")
    message = models.ForeignKey("releases.OutboxMessage", null=True, on_delete=models.SET_NULL, related_name="+",
                                help_text="The outbox row sending it now (a redelivery writes a new one).")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subscription", "created_at"])]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.event_type} → {self.subscription.url} ({self.webhook_id})"


class DeliveryAttemptQuerySet(ViaQuerySet):
    restrict_via = "delivery"


class DeliveryAttempt(models.Model):
    """One attempt at a delivery, as the subscriber answered it (the
    delivery log): rows are only ever added."""

    append_only = True

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempt = models.PositiveIntegerField(help_text="1 for the first attempt, counting retries and redeliveries.")
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True, help_text="None: no HTTP answer.")
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    objects = DeliveryAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["delivery", "attempt"]
        constraints = [models.UniqueConstraint(fields=["delivery", "attempt"], name="webhook_attempt_once")]

    def __str__(self):
        return f"{self.delivery.webhook_id} #{self.attempt}: {self.status_code or self.error[:40]}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
