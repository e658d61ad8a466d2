"""The CMDB: configuration items, their relations and baselines."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from releasemgmt.workflow import Blocker, guard

from .choices import BaselineKind, BaselineState, CIStatus, CIType
from .querysets import BaselineItemQuerySet, BaselineQuerySet, ConfigurationItemQuerySet


class ConfigurationItem(FSMModelMixin, models.Model):
    """A configuration item (CI): any component that must be managed to deliver
    a service (application, server, database, ...), with the version it runs.

    A release names CIs in its scope with target versions; ``depends_on`` gives
    the order in which components are assembled (step 4) and which CIs a change
    can affect.
    """

    name = models.CharField(max_length=200, unique=True)
    ci_type = models.CharField("type", max_length=20, choices=CIType.choices, default=CIType.APPLICATION)
    version = models.CharField(max_length=100, blank=True)
    status = FSMField(choices=CIStatus.choices, default=CIStatus.LIVE, protected=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_cis"
    )
    attributes = models.JSONField(default=dict, blank=True)
    depends_on = models.ManyToManyField("self", symmetrical=False, related_name="dependants", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(m2m_fields=[depends_on])
    objects = ConfigurationItemQuerySet.as_manager()
    state_field_name = "status"

    class Meta:
        ordering = ["name"]
        verbose_name = "configuration item"

    def __str__(self):
        return f"{self.name} {self.version}".strip()

    @transition(field=status, source=CIStatus.PLANNED, target=CIStatus.LIVE,
                custom={"roles": ("configuration_manager",)})
    def commission(self, *, by=None):
        """The CI enters live service."""

    @transition(field=status, source=[CIStatus.PLANNED, CIStatus.LIVE], target=CIStatus.RETIRED,
                custom={"roles": ("configuration_manager",)})
    def retire(self, *, by=None):
        """The CI is withdrawn from service; it stays in the CMDB for the record."""


@guard
def restore_point_not_needed(baseline, ctx):
    """A release's restore point stays current until the release is over."""
    release = baseline.release
    if release is not None and release.state not in ("closed", "cancelled"):
        yield Blocker("restore_point_in_use", f"{release.number} may still need this baseline to roll back.")


class Baseline(FSMModelMixin, models.Model):
    """A configuration baseline: a frozen snapshot of CIs and their versions.

    A pre-release baseline is the restore point taken before installation
    (step 5); a rollback restores CIs from it (step 17); closing a release
    records a post-release (or restored) baseline (step 20). Once captured, a
    baseline and its items never change.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=BaselineKind.choices, default=BaselineKind.MANUAL)
    state = FSMField(choices=BaselineState.choices, default=BaselineState.OPEN, protected=True)
    release = models.ForeignKey(
        "releases.Release", null=True, blank=True, on_delete=models.PROTECT, related_name="baselines"
    )
    description = models.TextField(blank=True)
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    captured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()
    objects = BaselineQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    @transition(field=state, source=BaselineState.OPEN, target=BaselineState.CAPTURED,
                custom={"roles": ("configuration_manager", "release_manager")})
    def capture(self, *, by=None):
        self.captured_by = by
        self.captured_at = timezone.now()

    @transition(field=state, source=BaselineState.CAPTURED, target=BaselineState.ARCHIVED,
                conditions=[restore_point_not_needed], custom={"roles": ("configuration_manager",)})
    def archive(self, *, by=None):
        """Kept for the record, no longer the reference for its CIs."""

    FROZEN_FIELDS = ("name", "kind", "release_id", "description", "captured_by_id", "captured_at")

    def save(self, *args, **kwargs):
        # A captured baseline is evidence: only its state may move on (archive).
        if self.pk:
            stored = Baseline.objects.filter(pk=self.pk).exclude(state=BaselineState.OPEN) \
                .values(*self.FROZEN_FIELDS).first()
            if stored and any(stored[f] != getattr(self, f) for f in self.FROZEN_FIELDS):
                raise ValidationError("A captured baseline cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.state != BaselineState.OPEN:
            raise ValidationError("A captured baseline cannot be deleted.")
        return super().delete(*args, **kwargs)

    def versions(self) -> dict[int, str]:
        return {item.ci_id: item.version for item in self.items.all()}


class BaselineItem(models.Model):
    """One CI as it stood when its baseline was captured."""

    baseline = models.ForeignKey(Baseline, on_delete=models.PROTECT, related_name="items")
    ci = models.ForeignKey(ConfigurationItem, on_delete=models.PROTECT, related_name="baseline_items")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20)
    attributes = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords()
    objects = BaselineItemQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["baseline", "ci"], name="baseline_item_unique_ci")]

    def __str__(self):
        return f"{self.name} {self.version}"

    def _check_open(self):
        # Captured baselines are evidence: their items are immutable.
        if Baseline.objects.filter(pk=self.baseline_id).exclude(state=BaselineState.OPEN).exists():
            raise ValidationError("A captured baseline cannot be changed.")

    def save(self, *args, **kwargs):
        self._check_open()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._check_open()
        return super().delete(*args, **kwargs)
