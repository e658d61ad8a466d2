"""Read-only questions the browser UI asks, answered in a fixed number of queries.

Nothing here writes: every change goes through ``releases.services`` (and
``changes.services``, ``cmdb.services``). The pages call these helpers so the
views stay thin and the query counts stay flat however many records a
release carries.
"""
from __future__ import annotations

import difflib
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.contrib.contenttypes.models import ContentType
from django.db.models import OuterRef, Prefetch, Q, Subquery, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.utils import timezone

from changes.models import ChangeRequest
from releasemgmt.workflow import ROLES, evaluate, specs, user_label, user_roles

from .choices import STATE_ORDER, STATE_STEP, STEPS, ReleaseState, TaskState, VoteDecision
from .guards import cab_quorum, go_roles
from .models import (
    RECORD_TYPES,
    CabVote,
    FreezeWindow,
    OutboxMessage,
    Release,
    ReleasePlan,
    ReleaseScopeItem,
    Task,
    TestCase,
    TestResult,
    TransitionLog,
)

ENDED = ("closed", "cancelled")
ACTIVE_TASK_STATES = (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED)
READER_ROLES = frozenset(ROLES) - {"vendor"}

# Transitions and records that are approvals: the user confirms them with
# their password, like a signature (CAB vote and decision, Go/No-Go, rollback).
SIGNED_TRANSITIONS = frozenset({"approve_plan", "reject_plan", "approve_go", "no_go", "rollback"})
SIGNED_RECORDS = frozenset({"votes"})
# Records written by a transition or on their own page, never by the generic form.
NO_GENERIC_FORM = frozenset({"votes", "go_decisions", "deployments"})


# --- who sees what ---------------------------------------------------------------


def vendor_only(user) -> bool:
    """A vendor's users see and update only their vendor's tasks."""
    return user_roles(user) == frozenset({"vendor"})


def can_read(user) -> bool:
    """Everyone with a role in the process reads releases, RFCs, the CMDB and
    the calendar, except a vendor (unless it also holds another role)."""
    return bool(user_roles(user) & READER_ROLES)


def visible_releases(user):
    return Release.objects.all() if can_read(user) else Release.objects.none()


def visible_tasks(user):
    """Tasks the user may see: all for readers, their vendor's for a vendor."""
    qs = Task.objects.all()
    if can_read(user):
        return qs
    if "vendor" in user_roles(user):
        return qs.filter(assignee_vendor__users=user)
    return qs.none()


@dataclass
class Membership:
    """A user's roles, and the teams and vendors they belong to (one query
    each, asked at most once a page, and only when something needs them: a
    release manager acts on every task whatever their teams)."""

    user: object
    roles: frozenset

    @classmethod
    def of(cls, user) -> "Membership":
        return cls(user, user_roles(user) if user.is_authenticated else frozenset())

    @cached_property
    def team_ids(self) -> set:
        return set(self.user.teams.values_list("pk", flat=True)) if self.user.is_authenticated else set()

    @cached_property
    def vendor_ids(self) -> set:
        return set(self.user.vendors.values_list("pk", flat=True)) if self.user.is_authenticated else set()

    def assigned(self, task) -> bool:
        return (task.assignee_user_id == self.user.pk
                or (task.assignee_team_id is not None and task.assignee_team_id in self.team_ids)
                or (task.assignee_vendor_id is not None and task.assignee_vendor_id in self.vendor_ids))

    def task_actor(self, task) -> bool:
        """``releases.models.task.task_actor`` without a query per task."""
        if not self.roles:
            return False
        return "release_manager" in self.roles or self.assigned(task)

    def mine_q(self, prefix="") -> Q:
        return (Q(**{f"{prefix}assignee_user": self.user.pk}) | Q(**{f"{prefix}assignee_team__in": self.team_ids})
                | Q(**{f"{prefix}assignee_vendor__in": self.vendor_ids}))


def task_actions(task, member: Membership) -> list[dict]:
    """The transitions of a task this user may take now (with blockers), as
    ``workflow.available`` reports them, but without a membership query per
    task. The service checks everything again when the button is pressed."""
    rows = []
    for spec in specs(Task).values():
        if task.state not in spec.sources or spec.internal:
            continue
        if not member.roles & set(spec.roles_for(task)):
            continue
        if spec.actor is not None and not member.task_actor(task):
            continue
        blockers = evaluate(task, spec, member.user, {"reason": "given"} if spec.reason else {})
        rows.append({"name": spec.name, "label": spec.title, "allowed": not blockers,
                     "reason_required": spec.reason, "blockers": [b.as_dict() for b in blockers]})
    # Plain buttons first; the ones that ask for a reason (block, cancel) after them.
    return sorted(rows, key=lambda r: r["reason_required"])


# --- one release, for its page ------------------------------------------------------------


def _record_prefetches():
    out = []
    for name, model in RECORD_TYPES.items():
        qs = model.objects.select_related("created_by")
        if model is ReleasePlan:
            qs = qs.prefetch_related(Prefetch("votes", queryset=CabVote.objects.select_related("created_by")))
        elif model is TestCase:
            qs = qs.prefetch_related(Prefetch("results", queryset=TestResult.objects.order_by("created_at", "id")))
        elif model is TestResult:
            qs = qs.select_related("created_by", "test_case")
        elif name == "closure_comments":
            qs = qs.select_related("created_by", "rfc")
        elif model is CabVote:
            qs = qs.select_related("created_by", "plan")
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


def release_for_page(pk):
    """A release with everything its page (and the CAB review page) and its
    guards read, the step records fetched only for the kinds the release has
    rows of. A release in flight has a few of the 22
    kinds; asking for each (one query per kind, most of them empty) was a third
    of the page's queries. The release's own row says which kinds exist, and
    the empty ones get an empty prefetch, so the page and the guards read every
    kind from memory as before."""
    release = (
        Release.objects.select_related("release_manager", "approved_plan")
        .annotate(_record_kinds=RawSQL(KINDS_SQL, ()))
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
    prefetches = [p for p in _record_prefetches() if p.prefetch_through in present]
    if "plans" in present:
        # The plans' votes are the release's votes (their own kind, fetched
        # anyway): handed to their plans below rather than fetched again.
        plans_qs = RECORD_TYPES["plans"].objects.select_related("created_by")
        prefetches = [Prefetch("plans", queryset=plans_qs) if p.prefetch_through == "plans" else p
                      for p in prefetches]
    prefetch_related_objects([release], *prefetches)
    for name in RECORD_TYPES.keys() - present:
        _set_prefetched(release, name, [])
    if "plans" in present:
        votes_by_plan: dict[int, list] = {}
        for vote in release.votes.all():  # ordered as a plan's votes are (created_at, id)
            votes_by_plan.setdefault(vote.plan_id, []).append(vote)
        plan_of_vote = RECORD_TYPES["votes"]._meta.get_field("plan")
        for plan in release.plans.all():
            votes = votes_by_plan.get(plan.pk, [])
            for vote in votes:
                plan_of_vote.set_cached_value(vote, plan)  # as a prefetch of plan.votes would
            _set_prefetched(plan, "votes", votes)
    return release


def _set_prefetched(obj, name, rows):
    """``obj.<name>.all()`` answers ``rows`` from memory, as after a prefetch."""
    qs = getattr(obj, name).all()  # not evaluated: the related manager's query, unrun
    qs._result_cache, qs._prefetch_done = rows, True
    if not hasattr(obj, "_prefetched_objects_cache"):
        obj._prefetched_objects_cache = {}
    obj._prefetched_objects_cache[name] = qs


def _baselines_qs():
    from cmdb.models import Baseline

    return Baseline.objects.select_related("captured_by").order_by("-created_at", "-id")


def transition_logs(obj):
    """The performed steps of one object (release, RFC, task), oldest first,
    each with readable names for the transition and the states."""
    from releasemgmt.workflow import state_field

    model = type(obj)
    ct = ContentType.objects.get_for_model(model)
    logs = list(TransitionLog.objects.filter(content_type=ct, object_id=obj.pk).select_related("by")
                .order_by("at", "id"))
    names = {name: spec.title for name, spec in specs(model).items()}
    states = dict(model._meta.get_field(state_field(model)).choices)
    for log in logs:
        log.label = names.get(log.name, log.name)
        log.source_label = states.get(log.source, log.source)
        log.target_label = states.get(log.target, log.target)
    return logs


def delivery_log(release):
    return list(OutboxMessage.objects.filter(release=release).order_by("-created_at", "-id"))


def release_creation(release):
    """Who raised the ticket and when (the first history row)."""
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
    "backup_missing": "#rec-backups", "backup_unverified": "#rec-backups",
    "health_check_missing": "#rec-health_checks", "health_check_failed": "#rec-health_checks",
    "evaluation_missing": "#rec-evaluations", "pir_missing": "#rec-reviews", "pir_not_success": "#rec-reviews",
    "rollback_not_advised": "#rec-rollback_advice", "closure_comment_missing": "#rec-closure_comments",
    "no_tasks": "#tasks", "task_unassigned": "#tasks", "task_undated": "#tasks", "task_outside_window": "#tasks",
    "packaging_not_done": "#tasks", "deployment_tasks_open": "#tasks", "tasks_open": "#tasks",
    "scope_undefined": "#scope", "target_version_missing": "#scope", "dependency_cycle": "#scope",
    "no_rfcs": "#rfcs", "rfc_not_open": "#rfcs", "rfc_not_authorized": "#rfcs",
}


# --- the CAB -------------------------------------------------------------------------


def cab_queue(user):
    """Plans submitted to the CAB that this CAB member has not yet voted on and
    may vote on (not their release, not their RFC)."""
    if "cab_member" not in user_roles(user):
        return []
    releases = (Release.objects.filter(state=ReleaseState.PLAN_SUBMITTED)
                .select_related("release_manager")
                .prefetch_related("rfcs", Prefetch("plans", queryset=ReleasePlan.objects.prefetch_related("votes")))
                .order_by("planned_start", "pk"))
    out = []
    for release in releases:
        plan = release.current_plan
        if plan is None or user.pk in release.conflicted_user_ids():
            continue
        if any(v.created_by_id == user.pk for v in plan.votes.all()):
            continue
        out.append(release)
    return out


def plans_under_review():
    return list(Release.objects.filter(state=ReleaseState.PLAN_SUBMITTED).select_related("release_manager")
                .prefetch_related(Prefetch("plans", queryset=ReleasePlan.objects.prefetch_related("votes")))
                .order_by("planned_start", "pk"))


@dataclass
class VoteTally:
    quorum: int
    approvals: int
    rejections: int
    votes: list
    void_votes: list

    @property
    def reached(self):
        return self.approvals >= self.quorum and not self.rejections

    @property
    def percent(self):
        return min(100, round(100 * self.approvals / self.quorum)) if self.quorum else 100


def vote_tally(release) -> VoteTally:
    """Votes on the current plan version against the quorum (as the guard counts
    them), and the votes on earlier versions, which no longer count."""
    plan = release.current_plan
    conflicted = release.conflicted_user_ids()
    current, void = [], []
    for plan_version in release.plans.all():
        for vote in plan_version.votes.all():
            (current if plan is not None and plan_version.pk == plan.pk else void).append(vote)
    current.sort(key=lambda v: (v.created_at, v.pk))
    void.sort(key=lambda v: (v.created_at, v.pk))
    approvals = sum(1 for v in current if v.decision == VoteDecision.APPROVE and v.created_by_id not in conflicted)
    rejections = sum(1 for v in current if v.decision == VoteDecision.REJECT)
    return VoteTally(cab_quorum(release), approvals, rejections, current, void)


def previous_plan(release, plan):
    if plan is None:
        return None
    older = [p for p in release.plans.all() if p.version < plan.version]
    return max(older, key=lambda p: p.version) if older else None


PLAN_FIELDS = ("scope", "deployment_start", "deployment_end", "deployment_approach", "risks", "teams",
               "downtime_expected", "notes")


def plan_diff(old, new) -> list[dict]:
    """Field by field, what changed from plan ``old`` to ``new``: text as word
    runs marked equal / insert / delete, other values as before and after."""
    rows = []
    for name in PLAN_FIELDS:
        model_field = ReleasePlan._meta.get_field(name)
        label = str(model_field.verbose_name).capitalize()
        after = getattr(new, name)
        before = getattr(old, name) if old is not None else None
        changed = old is not None and before != after
        row = {"name": name, "label": label, "before": before, "after": after, "changed": changed,
               "text": isinstance(after, str), "ops": []}
        if changed and isinstance(after, str):
            row["ops"] = word_diff(before or "", after or "")
        rows.append(row)
    return rows


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.split(" "), after.split(" ")
    ops = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("equal", " ".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            ops.append(("delete", " ".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            ops.append(("insert", " ".join(b[j1:j2])))
    return ops


# --- the dashboard ---------------------------------------------------------------------------


def go_queue(user):
    """Releases ready for a Go/No-Go this user may take (not their own)."""
    roles = user_roles(user)
    if not roles & {"delivery_manager", "change_manager", "cab_member"}:
        return []
    releases = Release.objects.filter(state=ReleaseState.READY).exclude(release_manager=user) \
        .select_related("release_manager").order_by("planned_start", "pk")
    return [r for r in releases if roles & set(go_roles(r))]


QUEUED_ELSEWHERE = {"approve_plan", "reject_plan", "approve_go", "no_go", "cancel"}


def role_queue(user):
    """Active releases whose next step is taken by one of this user's roles
    (other than release manager: those are on "my releases", and other than
    the CAB vote and Go/No-Go, which have their own lists): (release, steps)."""
    roles = user_roles(user) - {"release_manager"}
    if not roles:
        return []
    release_specs = [spec for spec in specs(Release).values()
                     if not spec.internal and spec.name not in QUEUED_ELSEWHERE]
    out = []
    for release in Release.objects.exclude(state__in=ENDED).select_related("release_manager") \
            .order_by("planned_start", "pk"):
        steps = [spec.title for spec in release_specs
                 if release.state in spec.sources and roles & set(spec.roles_for(release))]
        if steps:
            out.append((release, steps))
    return out


def my_tasks(member: Membership, limit=50):
    if not member.roles:
        return []
    qs = visible_tasks(member.user).filter(member.mine_q(), state__in=ACTIVE_TASK_STATES)
    return list(qs.select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
                .order_by("planned_end", "pk")[:limit])


DASHBOARD_RELEASES = 50
DASHBOARD_DEPLOYMENTS = 20  # the calendar shows them all


def dashboard(user, now=None) -> dict:
    """Everything the dashboard shows, each list one query."""
    now = now or timezone.now()
    member = Membership.of(user)
    reader = can_read(user)
    data = {"member": member, "reader": reader, "now": now}
    data["my_tasks"] = my_tasks(member)
    if not reader:
        return data
    # What the lists below show, and no more: these pages load on every visit.
    mine = Release.objects.exclude(state__in=ENDED).only("id", "title", "state", "planned_start")
    if "release_manager" in member.roles:
        mine = mine.filter(release_manager=user)
        data["releases_title"] = "My releases"
    else:
        data["releases_title"] = "Releases in progress"
    # Bounded: a release manager's own list is short, but a reader sees every
    # release in progress, which with years of history is thousands of rows
    # (the list page pages through them all).
    shown = list(mine.order_by("planned_start", "pk")[:DASHBOARD_RELEASES])
    data["releases_total"] = mine.count() if len(shown) == DASHBOARD_RELEASES else len(shown)
    data["releases_shown"] = len(shown)
    data["releases_list_query"] = "state=active" + (
        f"&manager={user.pk}" if "release_manager" in member.roles else "")
    by_step: dict[int, list] = {}
    for release in shown:
        by_step.setdefault(release.step or 0, []).append(release)
    data["releases_by_step"] = [(step, STEPS.get(step, ""), rows) for step, rows in sorted(by_step.items())]
    data["cab_queue"] = cab_queue(user)
    data["go_queue"] = go_queue(user)
    data["role_queue"] = role_queue(user)
    horizon = now + timedelta(days=30)
    data["deployments"] = upcoming_deployments(now, horizon, not_started=True, limit=DASHBOARD_DEPLOYMENTS)
    data["freezes"] = list(FreezeWindow.objects.filter(end__gte=now, start__lte=now + timedelta(days=60))
                           .order_by("start")[:20])
    data["overdue_tasks"] = list(
        Task.objects.filter(planned_end__lt=now, state__in=ACTIVE_TASK_STATES)
        .exclude(release__state__in=ENDED)
        .select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
        .order_by("planned_end")[:20])
    data["overdue_releases"] = list(
        Release.objects.filter(planned_end__lt=now).exclude(state__in=ENDED + ("succeeded",))
        .only("id", "title", "state", "planned_end").order_by("planned_end")[:20])
    data["overdue_count"] = len(data["overdue_tasks"]) + len(data["overdue_releases"])
    return data


NOT_YET_DEPLOYING = tuple(STATE_ORDER[:STATE_ORDER.index("deploying")])


def upcoming_deployments(start, end, *, not_started=False, limit=None):
    """Deployment windows of active releases (the latest plan version's) that
    end after ``start`` and begin before ``end``, soonest first; with
    ``not_started``, only of releases whose deployment has not started yet.

    Only the latest version counts (a window moved out of range by a revised
    plan is gone), decided in SQL, so ``limit`` bounds the rows fetched: at
    100k releases a 30-day horizon holds well over a thousand windows."""
    newest = ReleasePlan.objects.filter(release=OuterRef("release")).order_by("-version").values("version")[:1]
    plans = (ReleasePlan.objects.filter(deployment_end__gte=start, deployment_start__lte=end,
                                        version=Subquery(newest))
             .exclude(release__state__in=ENDED).select_related("release")
             # The window and whose it is; a plan's long text fields are not shown.
             .only("id", "release_id", "version", "deployment_start", "deployment_end", "downtime_expected",
                   "release__id", "release__title", "release__state", "release__release_type")
             .order_by("deployment_start", "pk"))
    if not_started:
        plans = plans.filter(release__state__in=NOT_YET_DEPLOYING)
    return list(plans[:limit] if limit else plans)


# --- the release list ----------------------------------------------------------------------


def release_list(user, *, q="", state="", release_type="", manager=None, ci=None, start=None, end=None):
    qs = visible_releases(user).select_related("release_manager").prefetch_related("rfcs")
    if q:
        import re

        match = re.fullmatch(r"(?:REL-?)?0*(\d+)", q.strip(), re.IGNORECASE)
        text = Q(title__icontains=q) | Q(description__icontains=q) | Q(rfcs__title__icontains=q)
        if match:
            text |= Q(pk=int(match.group(1)))
        qs = qs.filter(text).distinct()
    if state == "active":
        qs = qs.exclude(state__in=ENDED)
    elif state:
        qs = qs.filter(state=state)
    if release_type:
        qs = qs.filter(release_type=release_type)
    if manager:
        qs = qs.filter(release_manager=manager)
    if ci:
        qs = qs.filter(scope_items__ci=ci).distinct()
    if start:
        qs = qs.filter(planned_end__gte=datetime.combine(start, time.min, tzinfo=timezone.get_current_timezone()))
    if end:
        qs = qs.filter(planned_start__lte=datetime.combine(end, time.max, tzinfo=timezone.get_current_timezone()))
    return qs.order_by("-created_at", "-id")


# --- the calendar --------------------------------------------------------------------------------


@dataclass
class CalendarEntry:
    kind: str  # release | deployment | task | freeze
    title: str
    start: datetime
    end: datetime
    url: str
    state: str = ""
    detail: str = ""

    def covers(self, day: date) -> bool:
        tz = timezone.get_current_timezone()
        return timezone.localtime(self.start, tz).date() <= day <= timezone.localtime(self.end, tz).date()


def calendar_entries(user, start: datetime, end: datetime) -> list[CalendarEntry]:
    """Release windows, deployment windows, tasks and freeze windows that
    overlap [start, end), for what this user may see."""
    from django.urls import reverse

    entries = []
    if can_read(user):
        for r in (Release.objects.filter(planned_start__lt=end, planned_end__gt=start)
                  .exclude(state="cancelled").order_by("planned_start")):
            entries.append(CalendarEntry("release", f"{r.number} {r.title}", r.planned_start, r.planned_end,
                                         reverse("releases:detail", args=[r.pk]), r.state,
                                         f"Release window · {r.get_state_display()}"))
        for p in upcoming_deployments(start, end):
            if p.deployment_start >= end or p.deployment_end <= start:
                continue
            r = p.release
            entries.append(CalendarEntry("deployment", f"Deploy {r.number} {r.title}", p.deployment_start,
                                         p.deployment_end, reverse("releases:detail", args=[r.pk]) + "#step-12",
                                         r.state, f"Deployment window, plan v{p.version}"))
        for f in FreezeWindow.objects.filter(start__lt=end, end__gt=start).order_by("start"):
            entries.append(CalendarEntry("freeze", f"Freeze: {f.name}", f.start, f.end,
                                         reverse("releases:calendar") + f"?view=week&date={f.start:%Y-%m-%d}",
                                         detail=f.reason))
    tasks = (visible_tasks(user).filter(planned_start__lt=end, planned_end__gt=start)
             .exclude(state=TaskState.CANCELLED)
             .select_related("release", "assignee_user", "assignee_team", "assignee_vendor").order_by("planned_start"))
    for t in tasks:
        entries.append(CalendarEntry("task", f"{t.release.number}: {t.title}", t.planned_start, t.planned_end,
                                     reverse("releases:task", args=[t.pk]), t.state,
                                     f"{t.release.number} · step {t.step} · {t.assignee_label}"))
    entries.sort(key=lambda e: (e.start, e.kind, e.title))
    return entries


KIND_ORDER = {"freeze": 0, "deployment": 1, "task": 2, "release": 3}


def week_lanes(days: list[date], entries: list[CalendarEntry], max_lanes: int | None = None):
    """Lay a week's entries out as bars: each entry covers a run of days
    (clipped to the week) and gets the first lane free on all of them.
    Returns (lanes, hidden): lanes of segments, and per day how many entries
    did not fit in ``max_lanes``."""
    tz = timezone.get_current_timezone()
    first, last = days[0], days[-1]
    segments = []
    for e in entries:
        start = timezone.localtime(e.start, tz).date()
        end = timezone.localtime(e.end, tz).date()
        if e.end > e.start and timezone.localtime(e.end, tz).time() == time.min:
            end -= timedelta(days=1)  # ends at midnight: the day before is the last
        if end < first or start > last:
            continue
        a, b = max(start, first), min(end, last)
        segments.append({"entry": e, "col": (a - first).days + 1, "span": (b - a).days + 1,
                         "before": start < first, "after": end > last})
    segments.sort(key=lambda g: (g["col"], -g["span"], KIND_ORDER.get(g["entry"].kind, 9), g["entry"].start))
    lanes: list[list[dict]] = []
    hidden = [0] * len(days)
    for seg in segments:
        cols = set(range(seg["col"], seg["col"] + seg["span"]))
        for lane in lanes:
            if not any(cols & set(range(o["col"], o["col"] + o["span"])) for o in lane):
                lane.append(seg)
                break
        else:
            if max_lanes is not None and len(lanes) >= max_lanes:
                for c in cols:
                    hidden[c - 1] += 1
                continue
            lanes.append([seg])
    return lanes, hidden


def month_grid(year: int, month: int) -> list[list[date]]:
    """The weeks (Monday first) that show a month, as lists of seven dates."""
    first = date(year, month, 1)
    last = date(year, month, monthrange(year, month)[1])
    day = first - timedelta(days=first.weekday())
    weeks = []
    while day <= last:
        weeks.append([day + timedelta(days=i) for i in range(7)])
        day += timedelta(days=7)
    return weeks


# --- tasks ------------------------------------------------------------------------------------


def task_board(user, member: Membership, scope: str, release_id=None):
    qs = visible_tasks(user).exclude(release__state="cancelled")
    if scope == "mine":
        qs = qs.filter(member.mine_q())
    if release_id:
        qs = qs.filter(release_id=release_id)
    qs = qs.select_related("release", "assignee_user", "assignee_team", "assignee_vendor").order_by(
        "planned_end", "pk")
    # Done tasks stay on the board for two weeks, then live on their release's page.
    qs = qs.exclude(state=TaskState.DONE, updated_at__lt=timezone.now() - timedelta(days=14))
    columns = {s: [] for s in (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED, TaskState.DONE)}
    for task in qs:
        if task.state in columns:
            columns[task.state].append(task)
    return columns
