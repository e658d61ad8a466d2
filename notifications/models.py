"""What a person is told about their own queue: how (at once or in a daily
digest), and the ledger of items already told of."""
from django.conf import settings
from django.db import models


class QueueDelivery(models.TextChoices):
    IMMEDIATE = "immediate", "At once: one email for each item"
    DIGEST = "digest", "Once a day: one digest of the new items"


class QueuePreference(models.Model):
    """How a person wants to hear that work landed in their queue (the
    dashboard's "Waiting on you"); without one, at once."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_preference")
    delivery = models.CharField(max_length=10, choices=QueueDelivery.choices, default=QueueDelivery.IMMEDIATE)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.user}: {self.get_delivery_display()}"


class QueueNotice(models.Model):
    """One item that landed in a person's queue, noted once by its key
    (``releases.selectors.waiting.QueueItem.key``): however often the step is
    announced or the page read, the person is told once, at once or in the
    next daily digest (``digested_at`` set when it went out in one)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    action = models.CharField(max_length=300)
    subject = models.CharField(max_length=300)
    url = models.CharField(max_length=500)
    release = models.ForeignKey("releases.Release", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    delivery = models.CharField(max_length=10, choices=QueueDelivery.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="queue_notice_once")]
        # The digest reads the notices not yet sent in one.
        indexes = [models.Index(fields=["user"], name="queue_notice_digest_due",
                                condition=models.Q(delivery="digest", digested_at__isnull=True))]

    def __str__(self):
        return f"{self.action}: {self.subject} → {self.user}"
