from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from simple_history.models import HistoricalRecords

from releasemgmt import entrypoints, signing
from releasemgmt.authz import SubjectRestrictedQuerySet

from ..choices import Channel, OutboxStatus
from ..querysets import SignatureQuerySet

__all__ = ["TransitionLog", "OutboxMessage", "RefusedAttempt", "Signature"]


class TransitionLog(models.Model):
    """One performed step of a state machine (release, RFC or task): who, when,
    from, to, and the reason given. Written by the transition service only;
    rows are only ever added."""

    # Checked by the history-trigger installer (releasemgmt.audit): the table
    # rejects UPDATE and DELETE on PostgreSQL like the history tables.
    append_only = True

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("content_type", "object_id")
    name = models.CharField(max_length=50)
    source = models.CharField(max_length=30)
    target = models.CharField(max_length=30)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    reason = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords()
    objects = SubjectRestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "at"]),
            # The reports' period: which releases moved in it, read off this
            # index instead of the whole log.
            models.Index(fields=["content_type", "at"], name="transition_type_at"),
        ]

    def __str__(self):
        return f"{self.name}: {self.source} → {self.target}"

    @classmethod
    def record(cls, obj, **fields):
        return cls.objects.create(
            content_type=ContentType.objects.get_for_model(type(obj)), object_id=obj.pk, **fields
        )


class OutboxMessage(models.Model):
    """A notification written in the same transaction as the state change that
    causes it, and delivered afterwards by a Celery relay: a rolled-back
    transaction sends nothing, and a broker outage loses nothing. The relay
    claims a message (``sending`` with a lease) before sending it, so a relay
    that dies repeats at most that message (``notifications.tasks``)."""

    event = models.CharField(max_length=50)
    release = models.ForeignKey("releases.Release", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="outbox")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    recipient = models.CharField(max_length=300)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True,
                                  help_text="One delivery per (event occurrence, recipient, channel).")
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True,
        help_text="While sending: the relay holds the message until then; past it the message is due again.")
    claimed_by = models.CharField(max_length=100, blank=True, help_text="The relay (host:pid) that last claimed it.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()
    objects = SubjectRestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event} → {self.recipient} ({self.channel})"


class RefusedAttempt(models.Model):
    """An attempt the process refused on grounds of authority: someone tried a
    step their role does not allow, or one segregation of duties forbids them
    (approving or voting on their own release or RFC, the release manager
    deciding Go). Auditors read these beside the steps performed: a control
    that refuses silently cannot be shown to work. Rows are only ever added."""

    # Checked by the history-trigger installer: the table rejects UPDATE and
    # DELETE on PostgreSQL like the history tables.
    append_only = True

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                           related_name="+")
    username = models.CharField(max_length=150, blank=True,
                                help_text="Kept as written, so the row reads the same if the user is renamed.")
    action = models.CharField(max_length=50, help_text="The transition or service action attempted.")
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("content_type", "object_id")
    code = models.CharField(max_length=50, help_text="forbidden, segregation_of_duties or signature_invalid.")
    detail = models.TextField()
    entry_point = models.CharField(
        max_length=10, choices=entrypoints.CHOICES, blank=True,
        help_text="The door the attempt came through: api, ui, admin, feed, command, worker or shell "
                  "(blank on rows kept before the door was recorded).")

    objects = SubjectRestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"])]
        verbose_name = "refused attempt"

    def __str__(self):
        return f"{self.username or 'anonymous'}: {self.action} refused ({self.code})"


class Signature(models.Model):
    """A signed decision: at the moment of deciding, the signer proved again
    who they were (their password, for a local account), and this row keeps
    who signed, what they decided (``meaning``: the transition, or
    ``vote: approve``), when, by which method and through which door, and
    what was before them: ``document``, the canonical description of the
    content decided on (the plan version and its text, the RFC, the
    readiness assessment, ...), and its SHA-256 ``fingerprint``. Anyone can
    recompute the fingerprint from the document, and compare the document
    with the record as it stands.

    It belongs to the row that records the decision (``decision``): the
    transition log row of a signed transition, or the CAB vote. Written by
    ``releasemgmt.signing`` inside the decision's transaction; rows are only
    ever added. See ``releasemgmt/signing.py`` for which decisions are signed."""

    # Checked by the history-trigger installer: the table rejects UPDATE and
    # DELETE on PostgreSQL like the history tables.
    append_only = True

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_username = models.CharField(max_length=150,
                                       help_text="Kept as written, so the row reads the same if the user is renamed.")
    meaning = models.CharField(max_length=100, help_text="What the signer decided, e.g. approve_plan or vote: approve.")
    at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=20, choices=signing.METHOD_CHOICES,
                              help_text="How the signer proved who they were at the moment of signing.")
    entry_point = models.CharField(max_length=10, choices=entrypoints.CHOICES,
                                   help_text="The door the decision came through.")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the document, in hex.")
    document = models.TextField(help_text="What was signed: the canonical JSON the fingerprint is taken over.")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    decision = GenericForeignKey("content_type", "object_id")

    objects = SignatureQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["content_type", "object_id"],
                                               name="one_signature_per_decision")]

    def __str__(self):
        return f"{self.meaning} signed by {self.signer_username} ({self.method})"

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:16]

    @classmethod
    def attach(cls, objects) -> None:
        """Give each of ``objects`` (rows of one model) its ``signature``
        (None when unsigned), in one query."""
        objects = list(objects)
        if not objects:
            return
        content_type = ContentType.objects.get_for_model(type(objects[0]))
        found = {s.object_id: s for s in cls.objects.filter(content_type=content_type,
                                                            object_id__in=[o.pk for o in objects])}
        for obj in objects:
            obj.signature = found.get(obj.pk)
