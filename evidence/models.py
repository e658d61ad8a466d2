"""Evidence files: the documents an auditor asks for, kept beside the record
they prove.

ITIL's release and deployment management asks that each step leave evidence
behind (the build document, the test results, the backup, the health check,
the post-implementation review...); the step records hold what was decided,
and an evidence file holds the document behind it: a test report, a scan's
output, a screenshot of the health dashboard, a signed-off PIR. RFCs and
problem records take files too (a business case, a root cause analysis).

A file is kept as it arrived: its SHA-256, taken while the upload streamed
in, is recorded with it, so anyone can show later that the file an auditor
downloads is the one that was attached. Nothing is replaced or deleted: a
corrected file is a new one that *supersedes* the old, which stays listed
as superseded (the table is append-only, like the history tables).
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from releasemgmt.authz import RestrictedQuerySet, check_action, reader, unfiltered

# Where the record an evidence file belongs to is read: a step record's
# release, an RFC, a problem record. Each is the record itself or its parent,
# whose restrict is the record's own (step records are seen with their release).
OWNERS = ("release", "rfc", "problem")


class EvidenceQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Visible where the record it is attached to is: a step record's
        file with its release, an RFC's with the RFC, a problem's with the
        problem (each model's own ``restrict``)."""
        check_action(action)
        who = reader(user)
        if who.everything:
            return self
        if not who.anything:
            return self.none()
        where = Q(pk__in=[])
        for name in OWNERS:
            parents = self.model._meta.get_field(name).related_model._default_manager.restrict(user, action)
            if unfiltered(parents):
                where |= Q(**{f"{name}__isnull": False})
            elif not parents.query.is_empty():
                where |= Q(**{f"{name}__in": parents.values("pk")})
        return self.filter(where)


def stored_name(instance, filename: str) -> str:
    """A name of our own in the store (never the uploader's: it may hold a
    path or collide); the uploaded name is kept in ``name``."""
    return f"evidence/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class EvidenceFile(models.Model):
    """A document attached as evidence to a step record, an RFC or a problem
    record. Its SHA-256 and size are recorded as it arrives; a new version
    supersedes it (``supersedes``), and it stays, listed as superseded."""

    # Only ever added: a correction is a new row (append-only on PostgreSQL,
    # releasemgmt.audit).
    append_only = True

    # Not editable: the history lists what a person reads (the record's id,
    # the file's name and hash), not the content type's id or the store's name.
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+", editable=False)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    release = models.ForeignKey("releases.Release", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="evidence_files")
    rfc = models.ForeignKey("changes.ChangeRequest", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="evidence_files", verbose_name="RFC")
    problem = models.ForeignKey("changes.Problem", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="evidence_files")
    file = models.FileField(upload_to=stored_name, max_length=200, editable=False)
    name = models.CharField(max_length=200, help_text="The file's name as it was uploaded.")
    size = models.PositiveBigIntegerField(help_text="In bytes.")
    sha256 = models.CharField("SHA-256", max_length=64, help_text="Of the file's content, hex.")
    media_type = models.CharField(max_length=100, help_text="As its content shows it, not as the uploader said.")
    note = models.CharField(max_length=300, blank=True)
    supersedes = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="superseded_by",
                                      help_text="The file this one replaces, which stays, listed as superseded.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()
    objects = EvidenceQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="evidence_record")]
        constraints = [models.CheckConstraint(
            condition=(Q(release__isnull=False, rfc__isnull=True, problem__isnull=True)
                       | Q(release__isnull=True, rfc__isnull=False, problem__isnull=True)
                       | Q(release__isnull=True, rfc__isnull=True, problem__isnull=False)),
            name="evidence_one_owner")]

    def __str__(self):
        return self.name
