"""One release, for its page: the release with everything its page and its
guards read, its history, and the 20-step tracker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Prefetch, Subquery, prefetch_related_objects
from django.db.models.expressions import RawSQL

from changes.models import ChangeRequest
from releasemgmt.workflow import specs, user_label

from ..choices import STATE_STEP, STEPS
from ..models import (
    RECORD_TYPES,
    CabVote,
    OutboxMessage,
    Release,
    ReleasePlan,
    ReleaseScopeItem,
    Task,
    TestCase,
    TestResult,
    TransitionLog,
)
from .access import ENDED


# Records written by a transition or on their own page, never by the generic form.
NO_GENERIC_FORM = frozenset({"votes", "go_decisions", "deployments"})


def _record_prefetches(present) -> list[Prefetch]:
    """A prefetch for every kind of step record: those the release has rows
    of (``present``) read their rows, the others get an empty queryset, which
    Django answers without a query, so the page and the guards read every
    kind from memory."""
    out = []
    for name, model in RECORD_TYPES.items():
        if name not in present:
            out.append(Prefetch(name, queryset=model.objects.none()))
            continue
        qs = model.objects.select_related("created_by")
        if model is ReleasePlan:
            # A plan's votes are read by the CAB guard and the tally; without
            # any votes on the release their prefetch costs no query either.
            votes = CabVote.objects.select_related("created_by") if "votes" in present else CabVote.objects.none()
            qs = qs.prefetch_related(Prefetch("votes", queryset=votes))
        elif model is TestCase:
            qs = qs.prefetch_related(Prefetch("results", queryset=TestResult.objects.order_by("created_at", "id")))
        elif model is TestResult:
            qs = qs.select_related("created_by", "test_case")
        elif name == "closure_comments":
            qs = qs.select_related("created_by", "rfc")
        elif model is CabVote:
            qs = qs.select_related("created_by", "plan")
        elif name == "communications":
            # Its messages: the guards count them, the record shows their outcome.
            qs = qs.prefetch_related(Prefetch("messages", queryset=OutboxMessage.objects.only(
                "id", "content_type_id", "object_id", "recipient", "status").order_by("recipient", "id")))
        out.append(Prefetch(name, queryset=qs))
    return out


def _kinds_sql() -> str:
    """One SQL expression naming the step-record kinds a release has rows of
    ("plans,votes,"): ``||`` and EXISTS read the same on PostgreSQL and SQLite."""
    parts = []
    for name, model in RECORD_TYPES.items():
        column = model._meta.get_field("release").column
        parts.append(f"CASE WHEN EXISTS (SELECT 1 FROM {model._meta.db_table} WHERE {column} = "
                     f"{Release._meta.db_table}.{Release._meta.pk.column}) THEN '{name},' ELSE '' END")
    return "(" + " || ".join(parts) + ")"


KINDS_SQL = _kinds_sql()


def _raised():
    """Who raised the ticket and when (its first history row), as columns of
    the release's own row: ``release_creation`` reads them without a query."""
    first = (Release.history.model.objects.filter(id=OuterRef("pk"))
             .order_by("history_date", "history_id"))
    return {f"_raised_{name}": Subquery(first.values(path)[:1]) for name, path in (
        ("at", "history_date"), ("by_id", "history_user_id"), ("by_username", "history_user__username"),
        ("by_first_name", "history_user__first_name"), ("by_last_name", "history_user__last_name"))}


def release_for_page(pk, user):
    """A release ``user`` may see (``Release.DoesNotExist`` otherwise), with
    everything its page (and the CAB review page) and its guards read: all
    its tasks, which the guards count (the page shows those ``user`` may
    see), and the step records fetched only for the kinds the release has
    rows of. A release in flight has a few of the 22 kinds; asking for each
    (one query per kind, most of them empty) was a third of the page's
    queries. The release's own row says which kinds exist, and who raised it."""
    release = (
        Release.objects.restrict(user).select_related("release_manager", "approved_plan")
        .annotate(_record_kinds=RawSQL(KINDS_SQL, ()), **_raised())
        .prefetch_related(
            Prefetch("rfcs", queryset=ChangeRequest.objects.select_related("requester").order_by("pk")),
            Prefetch("scope_items", queryset=ReleaseScopeItem.objects.select_related("ci")),
            Prefetch("tasks", queryset=Task.objects.select_related("assignee_user", "assignee_team",
                                                                   "assignee_vendor")),
            Prefetch("baselines", queryset=_baselines_qs()),
        )
        .get(pk=pk)
    )
    present = set(filter(None, release._record_kinds.split(",")))
    prefetch_related_objects([release], *_record_prefetches(present))
    return release


def _baselines_qs():
    from cmdb.models import Baseline

    return Baseline.objects.select_related("captured_by").order_by("-created_at", "-id")


def delivery_log(release, user):
    return list(OutboxMessage.objects.restrict(user).filter(release=release).order_by("-created_at", "-id"))


def release_creation(release):
    """Who raised the ticket and when (the first history row): read with the
    release by ``release_for_page``, else asked here."""
    if hasattr(release, "_raised_at"):
        if release._raised_at is None:
            return None, release.created_at
        by = None
        if release._raised_by_id is not None:
            by = get_user_model()(pk=release._raised_by_id, username=release._raised_by_username,
                                  first_name=release._raised_by_first_name, last_name=release._raised_by_last_name)
        return by, release._raised_at
    first = release.history.order_by("history_date", "history_id").select_related("history_user").first()
    if first is None:
        return None, release.created_at
    return first.history_user, first.history_date


@dataclass
class StepRow:
    number: int
    title: str
    status: str  # done | current | ahead | optional | skipped
    by: object = None
    at: datetime | None = None
    action: str = ""
    count: int = 0

    @property
    def by_label(self):
        return user_label(self.by) if self.by is not None else ""


def _log_steps(log, release_specs) -> set[int]:
    spec = release_specs.get(log.name)
    steps = set()
    if spec is not None and spec.step:
        steps.add(spec.step)
    target_step = STATE_STEP.get(log.target)
    # complete_rollback also communicates the failure (18); close also updates the CMDB (20).
    if target_step and spec is not None and spec.step and target_step > spec.step:
        steps.add(target_step)
    return steps


def process_tracker(release, logs, creator=None, created_at=None) -> list[StepRow]:
    """The 20 steps: done, current or ahead, with who performed each and when.

    A step is done when a transition of that step was performed; skipped when
    the release went past it without it (rollback steps after a success, the
    review after a rollback); ahead otherwise. Steps 17 and 18 happen only
    when a release is rolled back.
    """
    release_specs = specs(Release)
    last: dict[int, TransitionLog] = {}
    counts: dict[int, int] = {}
    for log in logs:
        for step in _log_steps(log, release_specs):
            last[step] = log
            counts[step] = counts.get(step, 0) + 1
    state = release.state
    current = None if state in ENDED else STATE_STEP.get(state)
    reached = set(last) | {1}
    highest = max(reached | ({current} if current else set()))
    rows = []
    for number, title in STEPS.items():
        row = StepRow(number, title, "ahead", count=counts.get(number, 0))
        if number == 1:
            row.by, row.at, row.action = creator or release.release_manager, created_at or release.created_at, "Raised"
        elif number in last:
            log = last[number]
            row.by, row.at, row.action = log.by, log.at, _title(release_specs, log.name)
        if number == current:
            row.status = "current"
        elif number in reached:
            row.status = "done"
        elif number < highest:
            row.status = "skipped"
        elif number in (17, 18) and state not in ("rolling_back", "rolled_back"):
            row.status = "skipped" if state == "succeeded" else "optional"
        rows.append(row)
    return rows


def _title(release_specs, name):
    spec = release_specs.get(name)
    return spec.title if spec else name.replace("_", " ").capitalize()


# Where a release manager fixes what a blocker reports, by blocker code.
BLOCKER_TARGETS = {
    "plan_missing": "#rec-plans", "plan_incomplete": "#rec-plans", "plan_not_revised": "#rec-plans",
    "build_document_missing": "#rec-build_documents", "build_document_incomplete": "#rec-build_documents",
    "security_check": "#rec-security_checks", "prerequisites_unverified": "#rec-prerequisite_checks",
    "baseline_missing": "#baselines", "no_mandatory_tests": "#rec-test_cases", "test_not_run": "#rec-test_results",
    "test_not_passed": "#rec-test_results", "deferral_unjustified": "#rec-test_cases",
    "rollback_plan_missing": "#rec-rollback_plans", "rollback_plan_unverified": "#rec-rollback_plans",
    "pre_implementation_checks": "#rec-pre_implementation_checks",
    "environments_not_ready": "#rec-environment_readiness", "stakeholders_not_told": "#rec-communications",
    "downtime_not_broadcast": "#rec-communications", "readiness_not_assessed": "#rec-readiness_assessments",
    "training_missing": "#rec-training_plans", "training_not_done": "#rec-training_plans",
    "backup_missing": "#rec-backups", "backup_unverified": "#rec-backups", "deployment_failed": "#rec-deployments",
    "health_check_missing": "#rec-health_checks", "health_check_failed": "#rec-health_checks",
    "evaluation_missing": "#rec-evaluations", "pir_missing": "#rec-reviews", "pir_not_success": "#rec-reviews",
    "rollback_not_advised": "#rec-rollback_advice", "closure_comment_missing": "#rec-closure_comments",
    "no_tasks": "#tasks", "task_unassigned": "#tasks", "task_undated": "#tasks", "task_outside_window": "#tasks",
    "packaging_not_done": "#tasks", "deployment_tasks_open": "#tasks", "tasks_open": "#tasks",
    "scope_undefined": "#scope", "target_version_missing": "#scope", "dependency_cycle": "#scope",
    "no_rfcs": "#rfcs", "rfc_not_open": "#rfcs", "rfc_not_authorized": "#rfcs",
}
