from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from releasemgmt.workflow import Blocker, guard, reason_given, user_roles

from ..choices import STEPS, TaskState as T
from ..querysets import InternalQuerySet, TaskQuerySet, VendorQuerySet
from .release import planned_window

_STATE_LABELS = dict(T.choices)

__all__ = ["Team", "Vendor", "Task"]

WINDOW_ERROR = "The planned end must not be before the planned start."


class Team(models.Model):
    """A resolver group that release activities can be assigned to."""

    name = models.CharField(max_length=100, unique=True)
    email = models.EmailField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")

    history = HistoricalRecords(m2m_fields=[members])

    objects = InternalQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Vendor(models.Model):
    """A supplier with its own queue. Its activities are routed to its ticketing
    system when it has an integration (B2B); otherwise it is told by email.
    Users in the ``vendor`` role see and update only their vendor's tasks.

    The integration secret (HMAC, shared with the vendor's system) is
    write-only: shown once when it is generated, afterwards only its
    fingerprint. It is stored sealed (``releasemgmt.secretbox``) because the
    relay signs with it and the inbound endpoint verifies with it. After a
    rotation the previous secret still verifies until
    ``previous_secret_valid_until``; outbound calls use the current one."""

    name = models.CharField(max_length=100, unique=True)
    email = models.EmailField(blank=True)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="vendors")
    integration_url = models.URLField(blank=True)
    secret_sealed = models.TextField(blank=True, editable=False)
    secret_fingerprint = models.CharField(max_length=12, blank=True, editable=False,
                                          help_text="First 12 hex digits of the secret's SHA-256.")
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    previous_secret_sealed = models.TextField(blank=True, editable=False)
    previous_secret_fingerprint = models.CharField(max_length=12, blank=True, editable=False)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True, editable=False)

    # The history keeps the fingerprints and dates (who rotated when), never
    # the sealed values.
    history = HistoricalRecords(m2m_fields=[users], excluded_fields=["secret_sealed", "previous_secret_sealed"])

    objects = VendorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_sealed)

    def signing_secret(self) -> str:
        """The current secret: outbound calls are signed with it."""
        from releasemgmt.secretbox import unseal

        return unseal(self.secret_sealed)

    def verification_secrets(self, now=None) -> list[str]:
        """The secrets an inbound update may be signed with: the current one,
        and the previous one while its overlap window lasts."""
        from django.utils import timezone

        from releasemgmt.secretbox import unseal

        found = [self.signing_secret()] if self.secret_sealed else []
        if self.previous_secret_sealed and self.previous_secret_valid_until and \
                (now or timezone.now()) < self.previous_secret_valid_until:
            found.append(unseal(self.previous_secret_sealed))
        return found

    def set_secret(self, secret: str, *, at, previous_valid_until=None) -> None:
        """Replace the secret in memory (the service saves). With
        ``previous_valid_until`` the current secret stays valid for inbound
        updates until then; without it, it stops at once."""
        from releasemgmt.secretbox import fingerprint, seal

        keep = previous_valid_until is not None and self.secret_sealed
        self.previous_secret_sealed = self.secret_sealed if keep else ""
        self.previous_secret_fingerprint = self.secret_fingerprint if keep else ""
        self.previous_secret_valid_until = previous_valid_until if keep else None
        self.secret_sealed = seal(secret)
        self.secret_fingerprint = fingerprint(secret)
        self.secret_set_at = at if secret else None


@guard
def release_scheduled(task, ctx):
    if task.release.state in ("new", "planning", "plan_submitted", "plan_approved", "cancelled", "closed"):
        yield Blocker("release_not_active", f"The release is {task.release.get_state_display().lower()}, so its activities cannot start.")


@guard
def release_not_ended(task, ctx):
    # A closed release is evidence and a cancelled one delivers nothing: work
    # reported on their tasks afterwards would rewrite what happened.
    if task.release.state in ("cancelled", "closed"):
        yield Blocker("release_ended", f"The release is {task.release.get_state_display().lower()}, "
                                       "so its activities can no longer be completed or blocked.")


def task_actor(task, user) -> bool:
    """The release managers, and whoever the task is assigned to."""
    roles = user_roles(user)
    if not roles:  # anonymous, inactive or without any role in the process
        return False
    if "release_manager" in roles:
        return True
    if task.assignee_user_id is not None and task.assignee_user_id == user.pk:
        return True
    if task.assignee_team_id and task.assignee_team.members.filter(pk=user.pk).exists():
        return True
    return bool(task.assignee_vendor_id and task.assignee_vendor.users.filter(pk=user.pk).exists())


WORKERS = ("release_manager", "build_team", "test_team", "deployment_team", "configuration_manager",
           "change_manager", "delivery_manager", "vendor")


class Task(ConcurrentTransitionMixin, models.Model):
    """A release activity (step 3): work for a person, a team or a vendor's
    queue within the release's window, e.g. packaging (step 4) or deployment
    (step 12) tasks whose completion gates those steps."""

    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    step = models.PositiveSmallIntegerField(choices=sorted(STEPS.items()), default=12)
    assignee_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="release_tasks")
    assignee_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    assignee_vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    vendor_ticket_ref = models.CharField(max_length=200, blank=True,
                                         help_text="The ticket created in the vendor's system.")
    state = FSMField(choices=T.choices, default=T.OPEN, protected=True)
    calendar_sequence = models.PositiveIntegerField(default=0, editable=False)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False,
                                       help_text="When the assignee was last reminded (beat), to remind once.")
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["planned_start", "id"]
        # planned_end: overdue tasks and the calendar's window, read by range
        # rather than by scanning every task.
        indexes = [
            models.Index(fields=["state"]),
            models.Index(fields=["planned_end"], name="task_planned_end"),
            # The dashboard's overdue tasks: the few still open, not the
            # million finished ones the full index walks past first.
            models.Index(fields=["planned_end"], name="task_active_planned_end",
                         condition=models.Q(state__in=["open", "in_progress", "blocked"])),
            # The task board's done column: tasks done in the last two weeks,
            # not the many done before.
            models.Index(fields=["updated_at"], name="task_done_updated_at", condition=models.Q(state="done")),
        ]
        constraints = [
            # Unlike a release's window, a task's may be a single moment.
            models.CheckConstraint(condition=planned_window(instant=True), name="task_planned_window",
                                   violation_error_message=WINDOW_ERROR),
        ]

    def __str__(self):
        return self.title

    def clean(self):
        super().clean()
        self.check_planned_window(self.planned_start, self.planned_end)

    @staticmethod
    def check_planned_window(start, end) -> None:
        """The task's planned end is not before its start: the words every
        entry point answers with (the database holds the same rule)."""
        if start and end and end < start:
            raise ValidationError({"planned_end": WINDOW_ERROR})

    def get_state_display(self) -> str:
        # As Release.get_state_display: Django's rebuilds the choices per call.
        return _STATE_LABELS.get(self.state, self.state)

    @property
    def has_assignee(self) -> bool:
        return bool(self.assignee_user_id or self.assignee_team_id or self.assignee_vendor_id)

    @property
    def assignee_label(self) -> str:
        if self.assignee_vendor_id:
            return f"vendor: {self.assignee_vendor}"
        if self.assignee_team_id:
            return f"team: {self.assignee_team}"
        if self.assignee_user_id:
            return str(self.assignee_user)
        return ""

    @transition(field=state, source=T.OPEN, target=T.IN_PROGRESS, conditions=[release_scheduled],
                custom={"roles": WORKERS, "actor": task_actor})
    def start(self, *, by=None):
        pass

    @transition(field=state, source=T.IN_PROGRESS, target=T.DONE, conditions=[release_not_ended],
                custom={"roles": WORKERS, "actor": task_actor})
    def complete(self, *, by=None):
        pass

    @transition(field=state, source=[T.OPEN, T.IN_PROGRESS], target=T.BLOCKED, conditions=[release_not_ended],
                custom={"roles": WORKERS, "actor": task_actor, "checks": [reason_given]})
    def block(self, *, by=None):
        pass

    @transition(field=state, source=T.BLOCKED, target=T.IN_PROGRESS, conditions=[release_scheduled],
                custom={"roles": WORKERS, "actor": task_actor})
    def unblock(self, *, by=None):
        pass

    @transition(field=state, source=[T.OPEN, T.IN_PROGRESS, T.BLOCKED], target=T.CANCELLED,
                custom={"setback": True, "roles": ("release_manager",), "checks": [reason_given]})
    def cancel(self, *, by=None):
        pass
