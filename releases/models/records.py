"""The records each step of the release process produces.

Every record keeps who wrote it and when, and keeps its history. Each class
says who may write it (``writers``, role names) and in which release states
(``open_states``): a step's records are written while the step is open, and
never after it has passed. Where a record is the evidence one transition
asks for, its open states are that transition's sources (``sources_of``):
it is written while the step it gates can be taken. Records marked ``immutable`` are evidence and are
never edited; a change is a new record (e.g. a new plan version).
"""
from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.utils.text import capfirst
from simple_history.models import HistoricalRecords

from releasemgmt.roles import ROLES
from releasemgmt.workflow import sources_of

from ..choices import (
    CommunicationKind,
    DeploymentOutcome,
    GoDecision,
    PirOutcome,
    RollbackVerification,
    TestOutcome,
    TrainingStatus,
    VoteDecision,
)
from ..querysets import ReleaseRecordQuerySet
from .release import Release

__all__ = [
    "StepRecord", "ReleasePlan", "CabVote", "BuildDocument", "SecurityCheck", "PrerequisiteCheck",
    "TestCase", "TestResult", "RollbackPlan", "PreImplementationCheck", "EnvironmentReadiness",
    "Communication", "ReadinessAssessment", "GoNoGoDecision", "TrainingPlan", "Backup", "Deployment",
    "HealthCheck", "ChangeEvaluation", "PostImplementationReview", "RollbackAdvice", "ProblemReference",
    "ClosureComment", "RECORD_TYPES",
]

BEFORE_GO = ("new", "planning", "plan_submitted", "plan_approved", "scheduled", "packaging", "building",
             "built", "testing", "tests_passed", "plans_updated", "ready")
# The roles a communication may be addressed to: a vendor's people are told
# through their vendor (releases.audience), never all vendors at once.
AUDIENCE_ROLES = tuple(r for r in ROLES if r != "vendor")
LIVE = ("deploying", "deployed", "verified", "evaluated", "in_review")


class StepRecord(models.Model):
    release_field_related_name = None
    writers: tuple[str, ...] = ("release_manager",)
    open_states: tuple[str, ...] = ()
    immutable = False
    step: int | None = None
    # A signed record (releasemgmt.signing): written only with its writer's
    # signature; the model says what is signed (signed_content) and what the
    # signer decides (signature_meaning).
    signed = False

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReleaseRecordQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    def __str__(self):
        # capfirst, not capitalize: "CAB vote #18", not "Cab vote #18".
        return f"{capfirst(self._meta.verbose_name)} #{self.pk}"


def release_fk(related_name):
    return models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name=related_name)


class ReleasePlan(StepRecord):
    """A version of the release plan (step 2, revised at step 8). Versions are
    never edited: each revision is a new version beside the one the CAB
    approved, so anyone can see what changed since the CAB said yes."""

    release = release_fk("plans")
    version = models.PositiveIntegerField()
    scope = models.TextField(blank=True)
    deployment_start = models.DateTimeField(null=True, blank=True)
    deployment_end = models.DateTimeField(null=True, blank=True)
    deployment_approach = models.TextField(blank=True)
    risks = models.TextField(blank=True)
    teams = models.TextField(blank=True, help_text="Teams and vendors involved.")
    downtime_expected = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created_in_state = models.CharField(max_length=20, editable=False)

    writers = ("release_manager",)
    open_states = ("new", "planning", "plan_submitted", "tests_passed", "plans_updated")
    immutable = True
    step = 2
    history = HistoricalRecords()

    class Meta(StepRecord.Meta):
        constraints = [models.UniqueConstraint(fields=["release", "version"], name="plan_unique_version")]
        # The dashboard's and calendar's upcoming deployment windows.
        indexes = [models.Index(fields=["deployment_end"], name="plan_deployment_end")]

    def __str__(self):
        return f"Plan v{self.version}"


class CabVote(StepRecord):
    """A CAB member's vote on one version of the plan, signed by its voter
    (``signature``: their password). It counts only for that version: a new
    version leaves it standing, but void."""

    release = release_fk("votes")
    plan = models.ForeignKey(ReleasePlan, on_delete=models.PROTECT, related_name="votes")
    decision = models.CharField(max_length=10, choices=VoteDecision.choices)
    comment = models.TextField(blank=True)

    writers = ("cab_member",)
    open_states = sources_of(Release.approve_plan)
    immutable = True
    signed = True
    step = 2
    history = HistoricalRecords()

    class Meta(StepRecord.Meta):
        verbose_name = "CAB vote"
        constraints = [models.UniqueConstraint(fields=["plan", "created_by"], name="one_vote_per_plan_version")]

    def signed_content(self) -> dict:
        """The plan version voted on, as the CAB's decision on it signs it."""
        from ..signed import plan_decision

        return plan_decision(self.release, self.plan)

    def signature_meaning(self) -> str:
        return f"vote: {self.decision}"


class BuildDocument(StepRecord):
    """The build document (step 5) in its five parts."""

    release = release_fk("build_documents")
    build_install_test_plans = models.TextField("build, installation and test plans, procedures and scripts", blank=True)
    monitoring_qa = models.TextField("monitoring and QA", blank=True)
    deployment_procedures = models.TextField("distribution, deployment and installation procedures", blank=True)
    rollback_procedures = models.TextField("roll-back procedures", blank=True)
    remediation_steps = models.TextField("remediation steps if the release fails", blank=True)

    PARTS = ("build_install_test_plans", "monitoring_qa", "deployment_procedures", "rollback_procedures",
             "remediation_steps")
    writers = ("build_team", "release_manager")
    open_states = ("packaging", "building")
    step = 5
    history = HistoricalRecords()

    def missing_parts(self):
        return [self._meta.get_field(p).verbose_name for p in self.PARTS if not getattr(self, p).strip()]


class SecurityCheck(StepRecord):
    """Security requirements checked before the build is accepted (step 5)."""

    release = release_fk("security_checks")
    passed = models.BooleanField(default=False)
    notes = models.TextField(blank=True)

    writers = ("build_team", "release_manager")
    open_states = sources_of(Release.complete_build)
    immutable = True
    step = 5
    history = HistoricalRecords()


class PrerequisiteCheck(StepRecord):
    """A prerequisite of the installation, verified (step 5)."""

    release = release_fk("prerequisite_checks")
    description = models.CharField(max_length=300)
    verified = models.BooleanField(default=False)

    writers = ("build_team", "release_manager", "configuration_manager")
    open_states = ("packaging", "building")
    step = 5
    history = HistoricalRecords()


class TestCase(StepRecord):
    """A test of service validation (step 6). Mandatory tests gate step 7; an
    emergency release may defer one with a justification."""

    __test__ = False  # not a pytest class

    release = release_fk("test_cases")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    mandatory = models.BooleanField(default=True)
    deferred = models.BooleanField(default=False)
    deferral_justification = models.TextField(blank=True)

    writers = ("test_team", "release_manager")
    open_states = BEFORE_GO[: BEFORE_GO.index("tests_passed")]
    step = 6
    history = HistoricalRecords()

    def __str__(self):
        return self.name

    @property
    def latest_outcome(self):
        results = list(self.results.all())
        return max(results, key=lambda r: (r.created_at, r.pk)).outcome if results else None


class TestResult(StepRecord):
    """One execution of a test case in the test environment (step 6)."""

    __test__ = False

    release = release_fk("test_results")
    test_case = models.ForeignKey(TestCase, on_delete=models.PROTECT, related_name="results")
    outcome = models.CharField(max_length=10, choices=TestOutcome.choices)
    notes = models.TextField(blank=True)

    writers = ("test_team", "release_manager")
    open_states = sources_of(Release.pass_tests)
    immutable = True
    step = 6
    history = HistoricalRecords()


class RollbackPlan(StepRecord):
    """How to return to the previous baseline, tested or (where testing is
    impossible) verified before deployment (step 8)."""

    release = release_fk("rollback_plans")
    content = models.TextField()
    verification = models.CharField(max_length=10, choices=RollbackVerification.choices,
                                    default=RollbackVerification.NONE)
    verification_notes = models.TextField(blank=True)

    writers = ("release_manager",)
    open_states = ("planning", "packaging", "building", "built", "testing", "tests_passed")
    step = 8
    history = HistoricalRecords()


class PreImplementationCheck(StepRecord):
    """A check made before implementation (step 8)."""

    release = release_fk("pre_implementation_checks")
    description = models.CharField(max_length=300)
    passed = models.BooleanField(default=False)

    writers = ("release_manager",)
    open_states = sources_of(Release.update_plans)
    step = 8
    history = HistoricalRecords()

    class Meta(StepRecord.Meta):
        verbose_name = "pre-implementation check"


class EnvironmentReadiness(StepRecord):
    """A target environment confirmed ready for the release (step 9)."""

    release = release_fk("environment_readiness")
    environment = models.CharField(max_length=100)
    ready = models.BooleanField(default=False)
    notes = models.TextField(blank=True)

    writers = ("release_manager", "deployment_team")
    open_states = sources_of(Release.prepare)
    step = 9
    history = HistoricalRecords()

    class Meta(StepRecord.Meta):
        verbose_name = verbose_name_plural = "environment readiness"


class Communication(StepRecord):
    """A message sent about the release: stakeholder notice (step 9), plan
    circulation (step 8), downtime broadcast (step 12), failure notice (18).

    Its audience is chosen, not typed: process roles, teams, vendors, the
    requesters of the release's RFCs and the stakeholders (owners) of the CIs
    in scope. ``releases.audience`` resolves it to addresses and
    ``record_add`` writes one outbox message per recipient in the record's
    own transaction (the relay, ``notifications.tasks``, delivers them): the
    communication is made when its messages are in the outbox, and its
    ``messages`` say what became of each."""

    release = release_fk("communications")
    kind = models.CharField(max_length=30, choices=CommunicationKind.choices)
    roles = models.ManyToManyField("auth.Group", blank=True, related_name="+",
                                   limit_choices_to={"name__in": AUDIENCE_ROLES},
                                   help_text="Everyone holding these process roles.")
    teams = models.ManyToManyField("releases.Team", blank=True, related_name="communications",
                                   help_text="The members of these teams, and each team's address.")
    vendors = models.ManyToManyField("releases.Vendor", blank=True, related_name="communications",
                                     help_text="The people of these vendors, and each vendor's queue address.")
    rfc_requesters = models.BooleanField("RFC requesters", default=False,
                                         help_text="Whoever requested an RFC of this release.")
    ci_stakeholders = models.BooleanField("CI stakeholders", default=False,
                                          help_text="The owners of the CIs in scope and of the CIs depending on them.")
    # Filled in by the service: the audience in words (records written before
    # the audience was chosen from lists hold the free text typed then).
    audience = models.CharField(max_length=300, blank=True, help_text="Who is told, in words.")
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # When its messages were written to the outbox (set by the service, never
    # entered). Records from before kept the date typed by hand.
    sent_at = models.DateTimeField("written to the outbox at", null=True, blank=True)
    messages = GenericRelation("releases.OutboxMessage", related_query_name="communication")

    writers = ("release_manager",)
    open_states = BEFORE_GO[1:] + ("go", "backed_up") + LIVE + ("succeeded", "rolling_back", "rolled_back")
    immutable = True
    step = 9
    history = HistoricalRecords(m2m_fields=[roles, teams, vendors])

    def delivery(self) -> dict:
        """Its messages by outcome (from ``messages``, prefetched on the
        release page): delivered, failed, and still on their way."""
        counts = {"delivered": 0, "failed": 0, "pending": 0}
        for m in self.messages.all():
            key = {"sent": "delivered", "failed": "failed"}.get(m.status, "pending")
            counts[key] += 1
        return counts


class ReadinessAssessment(StepRecord):
    """Deployment readiness: risks and issues assessed before Go/No-Go (step 10)."""

    release = release_fk("readiness_assessments")
    risks = models.TextField()
    issues = models.TextField(blank=True)
    recommendation = models.TextField(blank=True)

    writers = ("release_manager", "delivery_manager")
    open_states = ("plans_updated", "ready")
    immutable = True
    step = 10
    history = HistoricalRecords()


class GoNoGoDecision(StepRecord):
    """The Go/No-Go decision (step 10), written by the transition itself."""

    release = release_fk("go_decisions")
    decision = models.CharField(max_length=10, choices=GoDecision.choices)
    reason = models.TextField(blank=True)

    writers = ()  # only approve_go / no_go write it
    immutable = True
    step = 10
    history = HistoricalRecords()

    class Meta(StepRecord.Meta):
        verbose_name = "Go/No-Go decision"


class TrainingPlan(StepRecord):
    """Training for users and support, required done before Go on a major release."""

    release = release_fk("training_plans")
    plan = models.TextField()
    status = models.CharField(max_length=10, choices=TrainingStatus.choices, default=TrainingStatus.PLANNED)

    writers = ("release_manager", "delivery_manager")
    open_states = BEFORE_GO
    step = 10
    history = HistoricalRecords()


class Backup(StepRecord):
    """The backup of the current release that makes rollback possible (step 11)."""

    release = release_fk("backups")
    what = models.TextField()
    location = models.CharField(max_length=300)
    taken_at = models.DateTimeField()
    verified = models.BooleanField(default=False)

    writers = ("release_manager", "deployment_team")
    open_states = sources_of(Release.record_backup)
    step = 11
    history = HistoricalRecords()


class Deployment(StepRecord):
    """The deployment itself (step 12), written by start/complete_deployment.

    When a CI/CD pipeline deploys (the deployment gate, app ``pipelines``),
    the record also names the pipeline's run, the commit it deployed and the
    environment, and the outcome it reported: a failed deployment is not
    completed (``complete_deployment`` is blocked) but rolled back on a
    delivery or change manager's advice (step 17)."""

    release = release_fk("deployments")
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    freeze_override_reason = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    environment = models.CharField(max_length=100, blank=True, help_text="Where it was deployed, as the pipeline "
                                                                         "named it.")
    run_url = models.URLField(max_length=500, blank=True, help_text="The pipeline run that deployed it.")
    commit = models.CharField(max_length=100, blank=True, help_text="The revision deployed.")
    outcome = models.CharField(max_length=10, choices=DeploymentOutcome.choices, blank=True,
                               help_text="As reported when the deployment finished; blank while it runs.")
    failed_at = models.DateTimeField(null=True, blank=True)
    log_url = models.URLField(max_length=500, blank=True, help_text="The log of the run, as reported at its end.")

    writers = ()
    step = 12
    history = HistoricalRecords()


class HealthCheck(StepRecord):
    """The health check of the deployed release (step 13)."""

    release = release_fk("health_checks")
    passed = models.BooleanField(default=False)
    details = models.TextField(blank=True)

    writers = ("release_manager", "deployment_team")
    open_states = sources_of(Release.verify_deployment)
    immutable = True
    step = 13
    history = HistoricalRecords()


class ChangeEvaluation(StepRecord):
    """Change Management's evaluation of the change (step 14)."""

    release = release_fk("evaluations")
    summary = models.TextField()
    meets_objectives = models.BooleanField(default=True)

    writers = ("change_manager",)
    open_states = sources_of(Release.evaluate)
    immutable = True
    step = 14
    history = HistoricalRecords()


class PostImplementationReview(StepRecord):
    """The post-implementation review (step 15) and its decision (step 16)."""

    release = release_fk("reviews")
    outcome = models.CharField(max_length=20, choices=PirOutcome.choices)
    findings = models.TextField(blank=True)

    writers = ("change_manager",)
    open_states = sources_of(Release.accept)
    immutable = True
    step = 15
    history = HistoricalRecords()

    class Meta(StepRecord.Meta):
        verbose_name = "post-implementation review (PIR)"
        verbose_name_plural = "post-implementation reviews (PIR)"


class RollbackAdvice(StepRecord):
    """A delivery or change manager's advice to roll back, on which the release
    manager authorises the rollback (step 17)."""

    release = release_fk("rollback_advice")
    advice = models.TextField()

    writers = ("delivery_manager", "change_manager")
    open_states = sources_of(Release.rollback)
    immutable = True
    step = 17
    history = HistoricalRecords()

    class Meta(StepRecord.Meta):
        verbose_name = verbose_name_plural = "rollback advice"

    @property
    def advised_by(self):
        return self.created_by


class ProblemReference(StepRecord):
    """A problem record raised for root cause analysis after a failure (step 17)."""

    release = release_fk("problem_references")
    reference = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    writers = ("release_manager", "change_manager")
    open_states = ("rolling_back", "rolled_back")
    step = 17
    history = HistoricalRecords()


class ClosureComment(StepRecord):
    """The release's closure comment on one RFC, passed to Change Management (step 19)."""

    release = release_fk("closure_comments")
    rfc = models.ForeignKey("changes.ChangeRequest", on_delete=models.PROTECT, related_name="release_closure_comments")
    comment = models.TextField()

    writers = ("release_manager",)
    open_states = sources_of(Release.close)
    step = 19
    history = HistoricalRecords()


RECORD_TYPES = {
    "plans": ReleasePlan,
    "votes": CabVote,
    "build_documents": BuildDocument,
    "security_checks": SecurityCheck,
    "prerequisite_checks": PrerequisiteCheck,
    "test_cases": TestCase,
    "test_results": TestResult,
    "rollback_plans": RollbackPlan,
    "pre_implementation_checks": PreImplementationCheck,
    "environment_readiness": EnvironmentReadiness,
    "communications": Communication,
    "readiness_assessments": ReadinessAssessment,
    "go_decisions": GoNoGoDecision,
    "training_plans": TrainingPlan,
    "backups": Backup,
    "deployments": Deployment,
    "health_checks": HealthCheck,
    "evaluations": ChangeEvaluation,
    "reviews": PostImplementationReview,
    "rollback_advice": RollbackAdvice,
    "problem_references": ProblemReference,
    "closure_comments": ClosureComment,
}
