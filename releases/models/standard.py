"""Standard changes: release models the change manager approved in advance."""
from django.conf import settings
from django.db import models
from django.utils.functional import cached_property
from simple_history.models import HistoricalRecords

from ..querysets import StandardChangeQuerySet

__all__ = ["StandardChange"]


class StandardChange(models.Model):
    """A standard change (ITIL): a low-risk, repeatable change that Change
    Management pre-authorises once instead of each time. Here it is a change
    manager's signed standing approval of one release template (the release
    model) for named configuration items: a release raised from that template
    whose scope stays within those CIs has its plan approved by this standing
    approval instead of CAB votes; every other step of the process stays as
    it is. The approval covers the template as it was when it was signed (an
    edited template needs a new approval), and it can be withdrawn, signed
    too: releases approved under it keep that approval (history is never
    rewritten); later ones go to the CAB again."""

    template = models.ForeignKey("releases.ReleaseTemplate", on_delete=models.PROTECT,
                                 related_name="standard_changes")
    cis = models.ManyToManyField("cmdb.ConfigurationItem", related_name="standard_changes",
                                 verbose_name="configuration items")
    template_updated_at = models.DateTimeField(
        editable=False, help_text="The version of the template approved: its last change when this was signed.")
    note = models.TextField(blank=True, help_text="Why this change is standard: its risk, its track record.")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                    editable=False)
    approved_at = models.DateTimeField(editable=False)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", editable=False)
    withdrawn_at = models.DateTimeField(null=True, blank=True, editable=False)
    withdrawal_reason = models.TextField(blank=True, editable=False)

    history = HistoricalRecords(m2m_fields=[cis])

    objects = StandardChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-approved_at", "-id"]
        indexes = [models.Index(fields=["template", "withdrawn_at"], name="standard_change_template")]

    def __str__(self):
        return f"{self.number} {self.template.name}"

    @property
    def number(self) -> str:
        return f"SC-{self.pk:05d}" if self.pk else "SC-new"

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None

    @cached_property
    def approval_signature(self):
        """The change manager's signature of this approval (one query)."""
        from django.contrib.contenttypes.models import ContentType

        from .audit import Signature

        return Signature.objects.filter(content_type=ContentType.objects.get_for_model(type(self)),
                                        object_id=self.pk).first()

    def signed_content(self) -> dict:
        """What the change manager signs: the template as it stands (its
        plan sections, activities and tests) and the CIs."""
        template = self.template
        return {
            "standard_change": self.number, "standard_change_id": self.pk,
            "template": {"id": template.pk, "name": template.name, "release_type": template.release_type,
                         "updated_at": template.updated_at,
                         **{f: getattr(template, f) for f in template.PLAN_FIELDS},
                         "rollback_plan": template.rollback_plan,
                         "tasks": [[t.title, t.step, str(t.offset_start), str(t.offset_end)]
                                   for t in template.tasks.all()],
                         "test_cases": [[c.name, c.mandatory] for c in template.test_cases.all()]},
            "cis": sorted(ci.name for ci in self.cis.all()),
            "note": self.note,
        }
