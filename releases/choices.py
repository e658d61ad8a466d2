from datetime import timedelta

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


# How long a release should stand in each state, by type; beyond it the
# reminders start (and reports compare against it).
STEP_TARGETS = {
    "major": {"planning": timedelta(days=10), "plan_submitted": timedelta(days=5), "plan_approved": timedelta(days=3),
              "scheduled": timedelta(days=5), "packaging": timedelta(days=3), "building": timedelta(days=10),
              "built": timedelta(days=1), "testing": timedelta(days=10), "tests_passed": timedelta(days=2),
              "plans_updated": timedelta(days=3), "ready": timedelta(days=3), "go": timedelta(days=1),
              "backed_up": timedelta(days=1), "deploying": timedelta(hours=12), "deployed": timedelta(days=1),
              "verified": timedelta(days=3), "evaluated": timedelta(days=2), "in_review": timedelta(days=5),
              "succeeded": timedelta(days=3), "rolling_back": timedelta(hours=6), "rolled_back": timedelta(days=3)},
    "minor": {"planning": timedelta(days=5), "plan_submitted": timedelta(days=2), "plan_approved": timedelta(days=2),
              "scheduled": timedelta(days=3), "packaging": timedelta(days=2), "building": timedelta(days=5),
              "built": timedelta(days=1), "testing": timedelta(days=5), "tests_passed": timedelta(days=1),
              "plans_updated": timedelta(days=2), "ready": timedelta(days=1), "go": timedelta(days=1),
              "backed_up": timedelta(hours=12), "deploying": timedelta(hours=6), "deployed": timedelta(hours=12),
              "verified": timedelta(days=2), "evaluated": timedelta(days=1), "in_review": timedelta(days=3),
              "succeeded": timedelta(days=2), "rolling_back": timedelta(hours=4), "rolled_back": timedelta(days=2)},
    "emergency": {"planning": timedelta(hours=4), "plan_submitted": timedelta(hours=2),
                  "plan_approved": timedelta(hours=2), "scheduled": timedelta(hours=2), "packaging": timedelta(hours=2),
                  "building": timedelta(hours=6), "built": timedelta(hours=1), "testing": timedelta(hours=6),
                  "tests_passed": timedelta(hours=1), "plans_updated": timedelta(hours=2), "ready": timedelta(hours=1),
                  "go": timedelta(hours=1), "backed_up": timedelta(hours=1), "deploying": timedelta(hours=4),
                  "deployed": timedelta(hours=4), "verified": timedelta(days=1), "evaluated": timedelta(days=1),
                  "in_review": timedelta(days=2), "succeeded": timedelta(days=1), "rolling_back": timedelta(hours=2),
                  "rolled_back": timedelta(days=1)},
}
