from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from changes.choices import RfcState as R
from changes.models import ChangeRequest as RFC
from releasemgmt.workflow import reason_given, specs

from .. import effects as fx
from .. import guards as g
from .. import signed
from ..version_warnings import version_warnings
from ..choices import CANCELLABLE_STATES, STATE_STEP, GoDecision, ReleaseState as S, ReleaseType
from ..querysets import (
    CalendarTokenQuerySet,
    InboundDeliveryQuerySet,
    InternalQuerySet,
    ReleaseQuerySet,
    ReleaseRecordQuerySet,
)

_STATE_LABELS = dict(S.choices)
_TYPE_LABELS = dict(ReleaseType.choices)

__all__ = ["Release", "ReleaseScopeItem", "FreezeWindow", "CalendarToken", "InboundDelivery", "target_duration"]

RM = ("release_manager",)
CM = ("change_manager",)
WINDOW_ERROR = "The planned end must be after the planned start."


def days(n):
    return timedelta(days=n)


def hours(n):
    return timedelta(hours=n)


def planned_window(*, instant: bool = False) -> models.Q:
    """The planned window as the database holds it: not planned yet, or an
    end after the start (or, with ``instant``, not before it)."""
    ends = models.Q(planned_end__gte=models.F("planned_start")) if instant else \
        models.Q(planned_end__gt=models.F("planned_start"))
    return models.Q(planned_start__isnull=True) | models.Q(planned_end__isnull=True) | ends


def stay(major, minor, emergency) -> dict:
    """A step's ``durations``: how long a release of each type should stay in
    the state the step leads to; beyond it the reminders start, and the
    reports compare against it."""
    return dict(zip(ReleaseType.values, (major, minor, emergency)))


class Release(ConcurrentTransitionMixin, models.Model):
    """A release: one or more RFCs built, tested and deployed together.

    It is the ticket the release manager raises at step 1 and closes at step
    19; its state machine is the 20-step ITIL Release and Deployment process,
    and nobody can skip, reorder or fake a step. Major releases need training
    and a CAB or change manager Go; emergency releases are approved by one
    ECAB vote, may defer tests with a justification and may deploy in a
    freeze window with a recorded reason.
    """

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    release_type = models.CharField(max_length=20, choices=ReleaseType.choices, default=ReleaseType.MINOR)
    release_manager = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="managed_releases")
    rfcs = models.ManyToManyField("changes.ChangeRequest", related_name="releases", blank=True, verbose_name="RFCs")
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    acceptance_criteria = models.TextField(blank=True, help_text="Documented on the ticket at step 9.")
    state = FSMField(choices=S.choices, default=S.NEW, protected=True)
    approved_plan = models.ForeignKey(
        "releases.ReleasePlan", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The plan version the CAB approved; frozen.",
    )
    standard_change = models.ForeignKey(
        "releases.StandardChange", null=True, blank=True, on_delete=models.PROTECT, related_name="releases",
        editable=False, help_text="The standing approval (standard change) that approved the plan instead of CAB votes.",
    )
    calendar_sequence = models.PositiveIntegerField(
        default=0, editable=False, help_text="iCalendar SEQUENCE: raised whenever the window is rescheduled.")
    # Kept for reporting (which release model was used); templates are retired, not deleted.
    template = models.ForeignKey("releases.ReleaseTemplate", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="releases", editable=False,
                                 help_text="The release template this release was raised from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(m2m_fields=[rfcs])

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state"]),
            models.Index(fields=["planned_start"]),
            # The release list filtered by type and state, and its count.
            models.Index(fields=["release_type", "state"], name="release_type_state"),
            # Overdue releases on the dashboard: only the few still open.
            models.Index(fields=["planned_end"], name="release_open_planned_end",
                         condition=~models.Q(state__in=["closed", "cancelled"])),
            # The release list in the browser, newest first: a page is read
            # off the index instead of sorting every release.
            models.Index(fields=["created_at", "id"], name="release_created"),
            # Releases in progress on the dashboard, soonest first: the few
            # open ones, not the whole history.
            models.Index(fields=["planned_start"], name="release_open_planned_start",
                         condition=~models.Q(state__in=["closed", "cancelled"])),
        ]
        constraints = [
            models.CheckConstraint(condition=planned_window(), name="release_planned_window",
                                   violation_error_message=WINDOW_ERROR),
        ]

    def __str__(self):
        return f"{self.number} {self.title}"

    def clean(self):
        super().clean()
        self.check_planned_window(self.planned_start, self.planned_end)

    @staticmethod
    def check_planned_window(start, end) -> None:
        """The release's window ends after it starts: the words every entry
        point answers with (the database holds the same rule)."""
        if start and end and end <= start:
            raise ValidationError({"planned_end": WINDOW_ERROR})

    @property
    def number(self) -> str:
        return f"REL-{self.pk:05d}" if self.pk else "REL-new"

    @property
    def step(self):
        return STATE_STEP.get(self.state)

    # Django's generated get_FOO_display() rebuilds a dict of the choices on
    # every call; the dashboard and release page call these for every row.
    def get_state_display(self) -> str:
        return _STATE_LABELS.get(self.state, self.state)

    def get_release_type_display(self) -> str:
        return _TYPE_LABELS.get(self.release_type, self.release_type)

    # -- records the guards read --------------------------------------------------

    def latest(self, related_name):
        """The most recent record of one kind (uses a prefetch when present)."""
        rows = list(getattr(self, related_name).all())
        return max(rows, key=lambda r: (r.created_at, r.pk)) if rows else None

    @property
    def current_plan(self):
        return self.latest("plans")

    @property
    def build_document(self):
        return self.latest("build_documents")

    @property
    def rollback_plan(self):
        return self.latest("rollback_plans")

    @property
    def pre_release_baseline(self):
        for b in self.baselines.all():
            if b.kind == "pre_release" and b.state == "captured":
                return b
        return None

    def conflicted_user_ids(self) -> set:
        """Users who may not approve this release: its manager and those who
        proposed its RFCs (each RFC's requester, and whoever raised it in the
        requester's name)."""
        ids = {self.release_manager_id}
        for rfc in self.rfcs.all():
            ids |= rfc.proposer_ids()
        return ids

    # -- the state machine: the contract's transitions, by name ---------------------
    #
    # Each step is declared once, here: its source and target, the roles that
    # may take it and the guards that must hold (``conditions`` are checked
    # on the release alone, ``checks`` also see the acting user and the
    # payload), its step of the process, whether it is a signed decision
    # (``signed``: what the signature covers), how long a release should stay
    # where it leads (``durations``), and what it does to related objects
    # (``effects``, run in order in the step's transaction).

    @transition(field=state, source=S.NEW, target=S.PLANNING, conditions=[g.has_rfcs],
                custom={"step": 2, "roles": RM, "durations": stay(days(10), days(5), hours(4)),
                        "effects": [fx.apply_template]})
    def start_planning(self, *, by=None):
        pass

    @transition(field=state, source=S.PLANNING, target=S.PLAN_SUBMITTED, conditions=[g.plan_complete],
                custom={"step": 2, "roles": RM, "label": "Submit plan to CAB",
                        "durations": stay(days(5), days(2), hours(2)), "warnings": [version_warnings]})
    def submit_plan(self, *, by=None):
        pass

    @transition(field=state, source=S.PLAN_SUBMITTED, target=S.PLAN_APPROVED,
                conditions=[g.cab_quorum_reached, g.rfcs_authorized],
                custom={"step": 2, "roles": ("cab_member",), "checks": [g.not_conflicted], "label": "Approve plan",
                        "signed": signed.plan_under_review, "durations": stay(days(3), days(2), hours(2))})
    def approve_plan(self, *, by=None):
        self.approved_plan = self.current_plan
        if not g.plan_approved_by_votes(self):
            # Without the CAB's quorum, the standing approval covering it (the guard's) approves the plan.
            self.standard_change = g.standing_approval(self)

    @transition(field=state, source=S.PLAN_SUBMITTED, target=S.PLANNING,
                custom={"setback": True, "step": 2, "roles": ("cab_member",),
                        "checks": [reason_given, g.not_conflicted],
                        "signed": signed.plan_under_review})
    def reject_plan(self, *, by=None):
        pass

    @transition(field=state, source=S.PLAN_APPROVED, target=S.SCHEDULED, conditions=[g.tasks_assigned],
                custom={"step": 3, "roles": RM, "checks": [g.schedule_window_clear],
                        "durations": stay(days(5), days(3), hours(2)), "warnings": [version_warnings],
                        "effects": [fx.DriveRfcs(RFC.schedule, only_from=(R.AUTHORIZED,))]})
    def schedule(self, *, by=None, freeze_override_reason=""):
        pass

    @transition(field=state, source=S.SCHEDULED, target=S.PACKAGING, conditions=[g.scope_defined],
                custom={"step": 4, "roles": RM, "durations": stay(days(3), days(2), hours(2))})
    def start_packaging(self, *, by=None):
        pass

    @transition(field=state, source=S.PACKAGING, target=S.BUILDING,
                conditions=[g.packaging_done, g.dependency_order_acyclic],
                custom={"step": 5, "roles": RM, "durations": stay(days(10), days(5), hours(6))})
    def start_build(self, *, by=None):
        pass

    @transition(field=state, source=S.BUILDING, target=S.BUILT, conditions=[g.build_complete],
                custom={"step": 5, "roles": RM + ("build_team",), "durations": stay(days(1), days(1), hours(1))})
    def complete_build(self, *, by=None):
        pass

    @transition(field=state, source=S.BUILT, target=S.TESTING,
                custom={"step": 6, "roles": RM, "durations": stay(days(10), days(5), hours(6))})
    def start_testing(self, *, by=None):
        pass

    @transition(field=state, source=S.TESTING, target=S.TESTS_PASSED, conditions=[g.mandatory_tests_passed],
                custom={"step": 7, "roles": RM, "durations": stay(days(2), days(1), hours(1))})
    def pass_tests(self, *, by=None):
        pass

    @transition(field=state, source=S.TESTING, target=S.BUILDING, conditions=[g.a_mandatory_test_failed],
                custom={"setback": True, "step": 7, "roles": RM, "label": "Fail tests (back to build)"})
    def fail_tests(self, *, by=None):
        pass

    @transition(field=state, source=S.TESTS_PASSED, target=S.PLANS_UPDATED, conditions=[g.plans_revised],
                custom={"step": 8, "roles": RM, "durations": stay(days(3), days(2), hours(2))})
    def update_plans(self, *, by=None):
        pass

    @transition(field=state, source=S.PLANS_UPDATED, target=S.READY, conditions=[g.prepared],
                custom={"step": 9, "roles": RM, "durations": stay(days(3), days(1), hours(1))})
    def prepare(self, *, by=None):
        pass

    @transition(field=state, source=S.READY, target=S.GO, conditions=[g.ready_for_go],
                custom={"step": 10, "roles": g.go_roles, "checks": [g.not_release_manager], "label": "Go",
                        "signed": signed.go_decision, "durations": stay(days(1), days(1), hours(1)),
                        "effects": [fx.RecordGoDecision(GoDecision.GO)]})
    def approve_go(self, *, by=None):
        pass

    @transition(field=state, source=S.READY, target=S.PLANS_UPDATED,
                custom={"setback": True, "step": 10, "roles": g.go_roles,
                        "checks": [reason_given, g.not_release_manager],
                        "label": "No-Go", "signed": signed.go_decision,
                        "effects": [fx.RecordGoDecision(GoDecision.NO_GO)]})
    def no_go(self, *, by=None):
        pass

    @transition(field=state, source=S.GO, target=S.BACKED_UP, conditions=[g.backup_recorded],
                custom={"step": 11, "roles": RM, "durations": stay(days(1), hours(12), hours(1))})
    def record_backup(self, *, by=None):
        pass

    @transition(field=state, source=S.BACKED_UP, target=S.DEPLOYING,
                conditions=[g.inside_window, g.downtime_broadcast],
                custom={"step": 12, "roles": RM + ("deployment_team",), "checks": [g.no_freeze],
                        "durations": stay(hours(12), hours(6), hours(4)),
                        "effects": [fx.start_deployment_record]})
    def start_deployment(self, *, by=None, freeze_override_reason=""):
        pass

    @transition(field=state, source=S.DEPLOYING, target=S.DEPLOYED,
                conditions=[g.deployment_tasks_done, g.deployment_not_failed],
                custom={"step": 12, "roles": RM + ("deployment_team",),
                        "durations": stay(days(1), hours(12), hours(4)),
                        "effects": [fx.complete_deployment_record]})
    def complete_deployment(self, *, by=None):
        pass

    @transition(field=state, source=S.DEPLOYED, target=S.VERIFIED, conditions=[g.health_check_passed],
                custom={"step": 13, "roles": RM, "durations": stay(days(3), days(2), days(1))})
    def verify_deployment(self, *, by=None):
        pass

    @transition(field=state, source=S.VERIFIED, target=S.EVALUATED, conditions=[g.evaluation_recorded],
                custom={"step": 14, "roles": CM, "durations": stay(days(2), days(1), days(1))})
    def evaluate(self, *, by=None):
        pass

    @transition(field=state, source=S.EVALUATED, target=S.IN_REVIEW,
                custom={"step": 15, "roles": CM, "durations": stay(days(5), days(3), days(2))})
    def start_review(self, *, by=None):
        pass

    @transition(field=state, source=S.IN_REVIEW, target=S.SUCCEEDED, conditions=[g.pir_success],
                custom={"step": 16, "roles": CM, "durations": stay(days(3), days(2), days(1)),
                        "effects": [fx.DriveRfcs(RFC.implement, only_from=(R.SCHEDULED,)),
                                    fx.DriveRfcs(RFC.review, only_from=(R.IMPLEMENTED,))]})
    def accept(self, *, by=None):
        pass

    @transition(field=state, source=[S.DEPLOYING, S.DEPLOYED, S.VERIFIED, S.EVALUATED, S.IN_REVIEW],
                target=S.ROLLING_BACK, conditions=[g.rollback_ready],
                custom={"setback": True, "step": 17, "roles": RM, "signed": signed.rollback_authorisation,
                        "durations": stay(hours(6), hours(4), hours(2))})
    def rollback(self, *, by=None):
        pass

    @transition(field=state, source=S.ROLLING_BACK, target=S.ROLLED_BACK, conditions=[g.baseline_to_restore],
                custom={"step": 17, "roles": RM, "durations": stay(days(3), days(2), days(1)),
                        "effects": [fx.restore_baseline,
                                    fx.DriveRfcs(RFC.fail, only_from=(R.SCHEDULED, R.IMPLEMENTED, R.REVIEWED))]})
    def complete_rollback(self, *, by=None):
        pass

    @transition(field=state, source=[S.SUCCEEDED, S.ROLLED_BACK], target=S.CLOSED, conditions=[g.closable],
                custom={"step": 19, "roles": RM,
                        "effects": [fx.update_cmdb, fx.CloseRfcs(RFC.close, only_from=(R.REVIEWED, R.FAILED))]})
    def close(self, *, by=None):
        pass

    @transition(field=state, source=CANCELLABLE_STATES, target=S.CANCELLED,
                custom={"setback": True, "roles": RM + CM, "checks": [reason_given],
                        # The RFCs go back to Change Management's pool for another release.
                        "effects": [fx.DriveRfcs(RFC.unschedule, only_from=(R.SCHEDULED,))]})
    def cancel(self, *, by=None):
        pass

    @classmethod
    def step_targets(cls) -> dict[str, dict[str, timedelta]]:
        """By release type, then state: how long a release should stay there,
        as the steps leading there declare it (``durations``)."""
        global _STEP_TARGETS
        if _STEP_TARGETS is None:
            declared = {}
            for spec in specs(cls).values():
                if spec.durations:
                    if spec.target in declared:
                        raise TypeError(f"Two steps declare how long a release stays {spec.target}.")
                    declared[spec.target] = spec.durations
            # In the process's order of states, as plain strings.
            _STEP_TARGETS = {kind: {state: declared[state][kind] for state in S.values if state in declared}
                             for kind in ReleaseType.values}
        return _STEP_TARGETS


_STEP_TARGETS = None


def target_duration(release_type: str, state: str) -> timedelta | None:
    """How long a release of ``release_type`` should stay in ``state``
    (None: the state has no target)."""
    return Release.step_targets().get(release_type, {}).get(state)


class ReleaseScopeItem(models.Model):
    """A configuration item the release changes, and the version it brings."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="scope_items")
    ci = models.ForeignKey("cmdb.ConfigurationItem", on_delete=models.PROTECT, related_name="release_scope")
    target_version = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    objects = ReleaseRecordQuerySet.as_manager()

    class Meta:
        ordering = ["ci__name"]
        constraints = [models.UniqueConstraint(fields=["release", "ci"], name="scope_unique_ci")]

    def __str__(self):
        return f"{self.ci.name} → {self.target_version}"


class FreezeWindow(models.Model):
    """A change freeze (blackout): no deployment may start inside it, globally
    or for the listed CIs, except an emergency release with a recorded reason."""

    name = models.CharField(max_length=200)
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.TextField(blank=True)
    cis = models.ManyToManyField("cmdb.ConfigurationItem", blank=True, related_name="freeze_windows",
                                 help_text="Leave empty for a global freeze.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Moves the ETag the API answers with (If-Match on a change or a delete).
    updated_at = models.DateTimeField(auto_now=True)
    calendar_sequence = models.PositiveIntegerField(default=0, editable=False)

    history = HistoricalRecords(m2m_fields=[cis])

    objects = InternalQuerySet.as_manager()

    class Meta:
        ordering = ["start"]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "A freeze window must end after it starts."})

    def save(self, *args, **kwargs):
        # Calendar subscribers see a moved freeze as an update, not a new event.
        if self.pk:
            old = FreezeWindow.objects.filter(pk=self.pk).values("start", "end").first()
            if old and (old["start"], old["end"]) != (self.start, self.end):
                self.calendar_sequence += 1
        super().save(*args, **kwargs)


class CalendarToken(models.Model):
    """The secret in a user's private calendar subscription URL: calendar
    clients cannot log in, so the URL itself is the credential."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_token")
    key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["key"])

    objects = CalendarTokenQuerySet.as_manager()

    def __str__(self):
        return f"calendar token of {self.user}"

    @classmethod
    def for_user(cls, user):
        import secrets

        token, _ = cls.objects.get_or_create(user=user, defaults={"key": secrets.token_hex(24)})
        return token


class InboundDelivery(models.Model):
    """An update a vendor's system sent us, kept by its idempotency key so a
    replayed delivery is recognised and refused."""

    vendor = models.ForeignKey("releases.Vendor", on_delete=models.PROTECT, related_name="inbound_deliveries")
    idempotency_key = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField(default=dict)

    history = HistoricalRecords()

    objects = InboundDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "inbound deliveries"
        constraints = [models.UniqueConstraint(fields=["vendor", "idempotency_key"], name="inbound_unique_key")]
