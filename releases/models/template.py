"""Release templates: the release manager's standard models of a release.

ITIL calls repeatable, pre-authorised patterns of work *release models*: the
same kinds of release (a monthly minor release, an emergency hot fix) go
through the same activities, tests and rollback approach each time. A
template captures one such model per release type; a release raised from it
starts with its activities, test cases, a draft plan and (once planning
opens) a rollback plan, all written through the ordinary services.
"""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from ..choices import STEPS, ReleaseType
from ..querysets import InternalQuerySet, TemplatePartQuerySet

__all__ = ["ReleaseTemplate", "TemplateTask", "TemplateTestCase"]


class ReleaseTemplate(models.Model):
    """A release model (ITIL): a named, reusable pattern for one type of
    release. Its plan sections mirror the release plan's fields and its
    rollback skeleton the rollback plan's content. Owned by release managers;
    retired by clearing ``active`` rather than deleted, because releases keep
    a reference to the template they were raised from."""

    name = models.CharField(max_length=200, unique=True)
    release_type = models.CharField(max_length=20, choices=ReleaseType.choices, default=ReleaseType.MINOR)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="Only active templates are offered for new releases.")
    # Plan sections: the fields of ReleasePlan a template can pre-fill.
    scope = models.TextField(blank=True)
    deployment_approach = models.TextField(blank=True)
    risks = models.TextField(blank=True)
    teams = models.TextField(blank=True, help_text="Teams and vendors involved.")
    downtime_expected = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    rollback_plan = models.TextField("rollback plan skeleton", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()
    objects = InternalQuerySet.as_manager()

    PLAN_FIELDS = ("scope", "deployment_approach", "risks", "teams", "downtime_expected", "notes")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def has_plan_sections(self) -> bool:
        return any(getattr(self, f) for f in self.PLAN_FIELDS if f != "downtime_expected")


class TemplateTask(models.Model):
    """A standard release activity of a template: which step it serves, who
    does it (a team or a vendor queue), and when, as offsets from the start
    of the release's planned window (negative: before the window opens)."""

    template = models.ForeignKey(ReleaseTemplate, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    step = models.PositiveSmallIntegerField(choices=sorted(STEPS.items()), default=12)
    team = models.ForeignKey("releases.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    vendor = models.ForeignKey("releases.Vendor", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    offset_start = models.DurationField(help_text="From the window's start, e.g. '1 02:00:00' or '-02:00:00'.")
    offset_end = models.DurationField(help_text="From the window's start; not before the offset start.")

    history = HistoricalRecords()
    objects = TemplatePartQuerySet.as_manager()

    class Meta:
        ordering = ["offset_start", "id"]

    def __str__(self):
        return self.title

    def clean(self):
        errors = {}
        if self.team_id and self.vendor_id:
            errors["vendor"] = "Assign the activity to a team or to a vendor queue, not both."
        if self.offset_start is not None and self.offset_end is not None and self.offset_end < self.offset_start:
            errors["offset_end"] = "The activity cannot end before it starts."
        if errors:
            raise ValidationError(errors)


class TemplateTestCase(models.Model):
    """A standard test of service validation (step 6) for this kind of release."""

    __test__ = False  # not a pytest class

    template = models.ForeignKey(ReleaseTemplate, on_delete=models.CASCADE, related_name="test_cases")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    mandatory = models.BooleanField(default=True)

    history = HistoricalRecords()
    objects = TemplatePartQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name
