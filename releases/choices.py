from django.db import models


class ReleaseState(models.TextChoices):
    NEW = "new", "New"
    PLANNING = "planning", "Planning"
    PLAN_SUBMITTED = "plan_submitted", "Plan submitted to CAB"
    PLAN_APPROVED = "plan_approved", "Plan approved"
    SCHEDULED = "scheduled", "Scheduled"
    PACKAGING = "packaging", "Packaging"
    BUILDING = "building", "Building"
    BUILT = "built", "Built"
    TESTING = "testing", "Testing"
    TESTS_PASSED = "tests_passed", "Tests passed"
    PLANS_UPDATED = "plans_updated", "Plans updated"
    READY = "ready", "Ready"
    GO = "go", "Go"
    BACKED_UP = "backed_up", "Backed up"
    DEPLOYING = "deploying", "Deploying"
    DEPLOYED = "deployed", "Deployed"
    VERIFIED = "verified", "Verified"
    EVALUATED = "evaluated", "Evaluated"
    IN_REVIEW = "in_review", "In review (PIR)"
    SUCCEEDED = "succeeded", "Succeeded"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


# The step of the 20-step process each state stands at.
STATE_STEP = {
    "new": 1, "planning": 2, "plan_submitted": 2, "plan_approved": 2, "scheduled": 3,
    "packaging": 4, "building": 5, "built": 5, "testing": 6, "tests_passed": 7,
    "plans_updated": 8, "ready": 9, "go": 10, "backed_up": 11, "deploying": 12,
    "deployed": 12, "verified": 13, "evaluated": 14, "in_review": 15, "succeeded": 16,
    "rolling_back": 17, "rolled_back": 18, "closed": 20, "cancelled": None,
}

# Linear order of the happy path, for "which steps are done".
STATE_ORDER = [s for s in ReleaseState.values if s not in ("rolling_back", "rolled_back", "cancelled")]

CANCELLABLE_STATES = STATE_ORDER[: STATE_ORDER.index("deploying")]

STEPS = {
    1: "Raise the release ticket",
    2: "Plan and CAB approval",
    3: "Assign activities and publish the calendar",
    4: "Packaging",
    5: "Build",
    6: "Service validation and testing",
    7: "Test decision",
    8: "Update release and rollback plans",
    9: "Preparation and communication",
    10: "Deployment readiness (Go/No-Go)",
    11: "Backup",
    12: "Deployment",
    13: "Health check",
    14: "Change evaluation",
    15: "Post-implementation review",
    16: "PIR decision",
    17: "Rollback",
    18: "Failure communicated",
    19: "Resolve and close",
    20: "Update the CMDB",
}


class ReleaseType(models.TextChoices):
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    EMERGENCY = "emergency", "Emergency"


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    BLOCKED = "blocked", "Blocked"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class VoteDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class TestOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked"


class RollbackVerification(models.TextChoices):
    NONE = "none", "Not yet tested or verified"
    TESTED = "tested", "Tested"
    VERIFIED = "verified", "Verified (testing impossible)"


class CommunicationKind(models.TextChoices):
    STAKEHOLDER_NOTICE = "stakeholder_notice", "Stakeholder notice"
    PLAN_CIRCULATION = "plan_circulation", "Plan circulation"
    DOWNTIME_BROADCAST = "downtime_broadcast", "Downtime broadcast"
    FAILURE_NOTICE = "failure_notice", "Failure notice"
    OTHER = "other", "Other"


class GoDecision(models.TextChoices):
    GO = "go", "Go"
    NO_GO = "no_go", "No-Go"


class DeploymentOutcome(models.TextChoices):
    """How a deployment ended, as its deployer reported it (a pipeline, or
    the deployment team): blank while it runs."""

    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class PirOutcome(models.TextChoices):
    SUCCESS = "success", "Change succeeded"
    ROLLBACK_REQUIRED = "rollback_required", "Rollback required"


class TrainingStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    DONE = "done", "Done"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"  # claimed by a relay until lease_until
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Vendor webhook"
    CALENDAR = "calendar", "Calendar update"


def __getattr__(name):
    # STEP_TARGETS (by release type, then state: how long a release should
    # stay there) is declared on the transitions leading to each state
    # (``durations`` in releases.models.release); the name stays here for
    # the code that reads the whole table. New code asks
    # ``releases.models.target_duration(release_type, state)``.
    if name == "STEP_TARGETS":
        from django.apps import apps

        return apps.get_model("releases", "Release").step_targets()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
