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
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.utils import timezone

from changes.models import ChangeRequest
from releasemgmt import authz
from releasemgmt.workflow import evaluate, specs, user_label, user_roles

from .choices import STATE_ORDER, STATE_STEP, STEPS, ReleaseState, ReleaseType, TaskState, VoteDecision
from .guards import cab_quorum
from .models import (
    RECORD_TYPES,
    CabVote,
    FreezeWindow,
    OutboxMessage,
    Release,
    ReleasePlan,
    ReleaseScopeItem,
    Signature,
    Task,
    TestCase,
    TestResult,
    TransitionLog,
)

ENDED = ("closed", "cancelled")
ACTIVE_TASK_STATES = (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED)

# Records written by a transition or on their own page, never by the generic form.
NO_GENERIC_FORM = frozenset({"votes", "go_decisions", "deployments"})


# --- who sees what ---------------------------------------------------------------
#
# Every row a page shows is read through its model's ``restrict(user)``
# (releasemgmt.authz decides); the pages themselves are gated by
# ``views.common.reader_required`` and ``role_required``.


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


def release_for_page(pk, user):
    """A release ``user`` may see (``Release.DoesNotExist`` otherwise), with
    everything its page (and the CAB review page) and its guards read: all
    its tasks, which the guards count (the page shows those ``user`` may
    see), and the step records fetched only for the kinds the release has
    rows of. A release in flight has a few of the 22
    kinds; asking for each (one query per kind, most of them empty) was a third
    of the page's queries. The release's own row says which kinds exist, and
    the empty ones get an empty prefetch, so the page and the guards read every
    kind from memory as before."""
    release = (
        Release.objects.restrict(user).select_related("release_manager", "approved_plan")
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
    declared = specs(model)
    names = {name: spec.title for name, spec in declared.items()}
    states = dict(model._meta.get_field(state_field(model)).choices)
    for log in logs:
        log.label = names.get(log.name, log.name)
        log.source_label = states.get(log.source, log.source)
        log.target_label = states.get(log.target, log.target)
    # The signatures of the signed steps, in one query when there are any.
    signed = [log for log in logs if log.name in declared and declared[log.name].signed is not None]
    Signature.attach(signed)
    return logs


def delivery_log(release, user):
    return list(OutboxMessage.objects.restrict(user).filter(release=release).order_by("-created_at", "-id"))


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

# The CAB page lists this many plans a page (``?page=``, ``?others_page=``);
# the dashboard shows the first few of each work queue and links to the rest.
# At 100k releases some 200 plans are before the CAB and a change manager's
# queue holds some 700 releases: drawn whole, the lists made the pages slow.
CAB_PAGE_SIZE = 50
DASHBOARD_QUEUE = 20


def _current_plan():
    """The outer release's current plan version, as ``Release.current_plan``
    has it: the newest by (created_at, pk), which is not always the highest
    version number."""
    return ReleasePlan.objects.filter(release=OuterRef("pk")).order_by("-created_at", "-pk")


def _under_review(user):
    """Plans before the CAB that ``user`` may see, soonest window first, with
    the current plan's id, version and deployment start (what the lists show)
    read in the same query."""
    plan = _current_plan()
    return (Release.objects.restrict(user).filter(state=ReleaseState.PLAN_SUBMITTED)
            .annotate(current_plan_id=Subquery(plan.values("pk")[:1]),
                      current_plan_version=Subquery(plan.values("version")[:1]),
                      current_plan_deployment_start=Subquery(plan.values("deployment_start")[:1]))
            .select_related("release_manager").order_by("planned_start", "pk"))


def _may_vote_now(user) -> Q:
    """What ``_vote_state`` asks of a release before the CAB, in SQL: it has a
    current plan; the user is not its manager, requested or raised none of its
    RFCs (``Release.conflicted_user_ids``) and has not voted on the current plan.

    The user's RFCs and votes are read once each, as sets the database hashes
    (``NOT IN``), not correlated with each release: a correlated EXISTS let
    PostgreSQL, on tables not yet analysed, rescan the RFC links per release
    (a minute on the test world). Only plans before the CAB count, so a CAB
    member's tens of thousands of past votes are not read. Neither set holds
    a NULL, and a release with no plan fails the first test, so the whole is
    true or false, never NULL: its negation is the rest of the plans."""
    before_cab = {"release__state": ReleaseState.PLAN_SUBMITTED}
    requested = Release.rfcs.through.objects.filter(
        Q(changerequest__requester=user) | Q(changerequest__raised_by=user), **before_cab).values("release_id")
    voted = CabVote.objects.filter(created_by=user, **before_cab).values("plan_id")
    return (Q(current_plan_id__isnull=False) & ~Q(release_manager=user)
            & ~Q(pk__in=requested) & ~Q(current_plan_id__in=voted))


def cab_queue(user):
    """Plans submitted to the CAB that this CAB member has not yet voted on and
    may vote on (not their release, not their RFC): a query, soonest first,
    for the caller to page or cut."""
    if "cab_member" not in user_roles(user):
        return Release.objects.none()
    return _under_review(user).filter(_may_vote_now(user))


def plans_under_review(user):
    """The plans before the CAB that are not in this user's ``cab_queue``."""
    if "cab_member" not in user_roles(user):
        return _under_review(user)
    return _under_review(user).exclude(_may_vote_now(user))


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
    Signature.attach(current)
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


class _OnlyItsType:
    """A release reduced to its type, handed to a callable ``roles`` of a
    Release transition to learn who may perform it on releases of that type.

    The work queues below filter in SQL by (state, release_type), which is
    right only while who may act depends on nothing else. It does: the one
    callable ``roles`` of the Release transitions is ``guards.go_roles``,
    which reads ``release_type`` alone. One that read anything else (a record,
    the manager) would fail here with an AttributeError, in the tests, rather
    than queue releases by a guess: its condition would have to join the
    queries below. (A transition's ``actor``, a check of the user beyond the
    role, is not consulted, as before: no Release transition has one.)"""

    __slots__ = ("release_type",)

    def __init__(self, release_type):
        self.release_type = release_type


def _acting(roles, names=None, skip=frozenset()) -> dict[tuple[str, str], list[str]]:
    """(state, release_type) → the titles of the Release transitions from that
    state that one of ``roles`` may perform on a release of that type (only
    those named ``names``, if given, and none named in ``skip``)."""
    out: dict[tuple[str, str], list[str]] = {}
    if not roles:
        return out
    for spec in specs(Release).values():
        if spec.internal or spec.name in skip or (names is not None and spec.name not in names):
            continue
        for release_type in ReleaseType.values:
            if roles & set(spec.roles_for(_OnlyItsType(release_type))):
                for state in spec.sources:
                    out.setdefault((state, release_type), []).append(spec.title)
    return out


def _types_by_state(pairs) -> dict[str, set]:
    types: dict[str, set] = {}
    for state, release_type in pairs:
        types.setdefault(state, set()).add(release_type)
    return types


def _in_pairs(pairs) -> Q | None:
    """Releases whose (state, release_type) is one of ``pairs``: by state
    alone where every type is in, else by state and types. None if no pair."""
    types = _types_by_state(pairs)
    every = sorted(s for s, ts in types.items() if ts == set(ReleaseType.values))
    parts = [Q(state__in=every)] if every else []
    parts += [Q(state=s, release_type__in=sorted(ts)) for s, ts in sorted(types.items()) if s not in every]
    if not parts:
        return None
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


QUEUE_FIELDS = ("id", "title", "state", "release_type", "planned_start", "planned_end")


def go_queue(user):
    """Releases ready for a Go/No-Go this user may take (not their own), as a
    query, soonest first, and (state, release_type) → the decisions' titles."""
    steps = _acting(user_roles(user), names={"approve_go", "no_go"})
    where = _in_pairs(steps)
    if where is None:
        return Release.objects.none(), steps
    # guards.not_release_manager: the manager of a release never decides its
    # Go, nor does whoever proposed one of its RFCs.
    proposed = Release.rfcs.through.objects.filter(
        Q(changerequest__requester=user) | Q(changerequest__raised_by=user),
        release__state=ReleaseState.READY).values("release_id")
    return (Release.objects.restrict(user).filter(where).exclude(release_manager=user).exclude(pk__in=proposed)
            .only(*QUEUE_FIELDS).order_by("planned_start", "pk"), steps)


QUEUED_ELSEWHERE = {"approve_plan", "reject_plan", "approve_go", "no_go", "cancel"}


def role_queue(user):
    """Active releases whose next step is taken by one of this user's roles
    (other than release manager: those are on "my releases", and other than
    the CAB vote and Go/No-Go, which have their own lists), as a query,
    soonest first, and (state, release_type) → the titles of those steps."""
    steps = _acting(user_roles(user) - {"release_manager"}, skip=QUEUED_ELSEWHERE)
    where = _in_pairs(steps)
    if where is None:
        return Release.objects.none(), steps
    return (Release.objects.restrict(user).filter(where).exclude(state__in=ENDED).only(*QUEUE_FIELDS)
            .order_by("planned_start", "pk"), steps)


@dataclass
class WorkQueue:
    """The first releases of a work queue on the dashboard, its true total,
    and, when not all are shown, where the rest are: the release list by
    state (and type, where only some types are the user's), with counts."""

    rows: list
    total: int
    links: list  # (label, release list query string)

    @property
    def more(self) -> bool:
        return self.total > len(self.rows)


def dashboard_queue(qs, pairs=None) -> WorkQueue:
    """The first DASHBOARD_QUEUE of ``qs`` and its total, counted in SQL only
    when those rows fill the list. With ``pairs`` (the (state, release_type)
    pairs ``qs`` is filtered by), one grouped count gives the total and the
    links to the release list."""
    rows = list(qs[:DASHBOARD_QUEUE])
    if len(rows) < DASHBOARD_QUEUE:
        return WorkQueue(rows, len(rows), [])
    if pairs is None:
        return WorkQueue(rows, qs.count(), [])
    counts = {(state, release_type): n for state, release_type, n in
              qs.order_by().values("state", "release_type").annotate(n=Count("pk"))
              .values_list("state", "release_type", "n")}
    types = _types_by_state(pairs)
    states, type_labels = dict(ReleaseState.choices), dict(ReleaseType.choices)
    links = []
    for state in sorted({s for s, _ in counts}, key=ReleaseState.values.index):
        if types[state] == set(ReleaseType.values):
            n = sum(v for (s, _), v in counts.items() if s == state)
            links.append((f"{states[state]} ({n:,})", f"state={state}"))
            continue
        links += [(f"{states[state]} · {type_labels[t]} ({counts[state, t]:,})", f"state={state}&release_type={t}")
                  for t in sorted(types[state]) if (state, t) in counts]
    return WorkQueue(rows, sum(counts.values()), links)


def my_tasks(member: Membership, limit=50):
    if not member.roles:
        return []
    qs = Task.objects.restrict(member.user).filter(member.mine_q(), state__in=ACTIVE_TASK_STATES)
    return list(qs.select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
                .order_by("planned_end", "pk")[:limit])


DASHBOARD_RELEASES = 50
DASHBOARD_DEPLOYMENTS = 20  # the calendar shows them all


def dashboard(user, now=None) -> dict:
    """Everything the dashboard shows, each list one query."""
    now = now or timezone.now()
    member = Membership.of(user)
    reader = authz.reader(user).internal
    data = {"member": member, "reader": reader, "now": now}
    data["my_tasks"] = my_tasks(member)
    if not reader:
        return data
    # What the lists below show, and no more: these pages load on every visit.
    mine = Release.objects.restrict(user).exclude(state__in=ENDED).only("id", "title", "state", "planned_start")
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
    # The work queues: the first few of each, their totals counted in SQL.
    data["cab_queue"] = dashboard_queue(cab_queue(user))
    data["go_queue"] = dashboard_queue(*go_queue(user))
    role_qs, steps = role_queue(user)
    queue = dashboard_queue(role_qs, steps)
    queue.rows = [(r, steps[r.state, r.release_type]) for r in queue.rows]
    data["role_queue"] = queue
    horizon = now + timedelta(days=30)
    data["deployments"] = upcoming_deployments(user, now, horizon, not_started=True, limit=DASHBOARD_DEPLOYMENTS)
    data["freezes"] = list(FreezeWindow.objects.restrict(user)
                           .filter(end__gte=now, start__lte=now + timedelta(days=60)).order_by("start")[:20])
    data["overdue_tasks"] = list(
        Task.objects.restrict(user).filter(planned_end__lt=now, state__in=ACTIVE_TASK_STATES)
        .exclude(release__state__in=ENDED)
        .select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
        .order_by("planned_end")[:20])
    data["overdue_releases"] = list(
        Release.objects.restrict(user).filter(planned_end__lt=now).exclude(state__in=ENDED + ("succeeded",))
        .only("id", "title", "state", "planned_end").order_by("planned_end")[:20])
    data["overdue_count"] = len(data["overdue_tasks"]) + len(data["overdue_releases"])
    return data


NOT_YET_DEPLOYING = tuple(STATE_ORDER[:STATE_ORDER.index("deploying")])


def upcoming_deployments(user, start, end, *, not_started=False, limit=None):
    """Deployment windows of active releases ``user`` may see (the latest plan version's) that
    end after ``start`` and begin before ``end``, soonest first; with
    ``not_started``, only of releases whose deployment has not started yet.

    Only the latest version counts (a window moved out of range by a revised
    plan is gone), decided in SQL, so ``limit`` bounds the rows fetched: at
    100k releases a 30-day horizon holds well over a thousand windows."""
    newest = ReleasePlan.objects.filter(release=OuterRef("release")).order_by("-version").values("version")[:1]
    plans = (ReleasePlan.objects.restrict(user).filter(deployment_end__gte=start, deployment_start__lte=end,
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
    qs = Release.objects.restrict(user).select_related("release_manager").prefetch_related("rfcs")
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
    pk: int = 0  # the row's id in its kind's table: orders entries that start together

    @cached_property
    def first_day(self) -> date:
        return timezone.localtime(self.start, timezone.get_current_timezone()).date()

    @cached_property
    def last_day(self) -> date:
        """The last day the entry is on: one ending at midnight ends the day before."""
        end = timezone.localtime(self.end, timezone.get_current_timezone())
        if self.end > self.start and end.time() == time.min:
            return end.date() - timedelta(days=1)
        return end.date()

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


KIND_ORDER = {"freeze": 0, "deployment": 1, "task": 2, "release": 3}


def _day_bounds(day: date, tz) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of a local day (not always 24 hours apart)."""
    return datetime.combine(day, time.min, tzinfo=tz), datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def _on(start: str, end: str, a: datetime, b: datetime) -> Q:
    """Rows on [a, b): starting before b and ending after a, or starting in it
    (a zero-length entry at midnight is on that day), as ``CalendarEntry.covers``
    has it. ``end >= a`` follows from the rest (an entry ends after it starts);
    it is spelt out for the index on the end column: tasks and plans have one,
    not one on their start."""
    return Q(**{f"{start}__lt": b, f"{end}__gte": a}) & (Q(**{f"{end}__gt": a}) | Q(**{f"{start}__gte": a}))


def _calendar_sources(user) -> list[tuple[str, str, str, object]]:
    """What the calendar shows, per kind: (kind, start field, end field, the
    rows this user may see). Cancelled releases and tasks are left out; a
    deployment window is the latest plan version's (a window moved by a
    revised plan is gone), of a release that has not ended."""
    newest = ReleasePlan.objects.filter(release=OuterRef("release")).order_by("-version").values("version")[:1]
    plans = ReleasePlan.objects.restrict(user).filter(version=Subquery(newest)).exclude(release__state__in=ENDED)
    releases = Release.objects.restrict(user).exclude(state="cancelled")
    tasks = Task.objects.restrict(user).exclude(state=TaskState.CANCELLED)
    sources = [("freeze", "start", "end", FreezeWindow.objects.restrict(user)),
               ("deployment", "deployment_start", "deployment_end", plans),
               ("release", "planned_start", "planned_end", releases),
               ("task", "planned_start", "planned_end", tasks)]
    # A kind the user may see none of is left out rather than queried (the
    # tasks stay, possibly empty, so that there is always one source).
    return [source for source in sources[:-1] if not source[3].query.is_empty()] + sources[-1:]


def calendar_rows(rows) -> list[CalendarEntry]:
    """The entries of ``(kind, id)`` pairs, in their order: one query per kind
    present, reading only the columns shown (no long text fields)."""
    from django.urls import reverse

    rows = list(rows)
    ids: dict[str, list] = {}
    for kind, pk in rows:
        ids.setdefault(kind, []).append(pk)
    found: dict[tuple[str, int], CalendarEntry] = {}
    if ids.get("release"):
        for r in Release.objects.filter(pk__in=ids["release"]).only("id", "title", "state", "planned_start",
                                                                     "planned_end"):
            found["release", r.pk] = CalendarEntry(
                "release", f"{r.number} {r.title}", r.planned_start, r.planned_end,
                reverse("releases:detail", args=[r.pk]), r.state, f"Release window · {r.get_state_display()}", r.pk)
    if ids.get("deployment"):
        for p in (ReleasePlan.objects.filter(pk__in=ids["deployment"]).select_related("release")
                  .only("id", "version", "deployment_start", "deployment_end", "release__id", "release__title",
                        "release__state")):
            r = p.release
            found["deployment", p.pk] = CalendarEntry(
                "deployment", f"Deploy {r.number} {r.title}", p.deployment_start, p.deployment_end,
                reverse("releases:detail", args=[r.pk]) + "#step-12", r.state, f"Deployment window, plan v{p.version}",
                p.pk)
    if ids.get("freeze"):
        for f in FreezeWindow.objects.filter(pk__in=ids["freeze"]).only("id", "name", "start", "end", "reason"):
            found["freeze", f.pk] = CalendarEntry(
                "freeze", f"Freeze: {f.name}", f.start, f.end,
                reverse("releases:calendar") + f"?view=week&date={f.start:%Y-%m-%d}", detail=f.reason, pk=f.pk)
    if ids.get("task"):
        for t in (Task.objects.filter(pk__in=ids["task"])
                  .select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
                  # A release's state too: its FSM mixin reads it on loading (a query a row if deferred).
                  .only("id", "title", "step", "state", "planned_start", "planned_end", "release__id", "release__title",
                        "release__state", "assignee_user", "assignee_team", "assignee_vendor")):
            found["task", t.pk] = CalendarEntry(
                "task", f"{t.release.number}: {t.title}", t.planned_start, t.planned_end,
                reverse("releases:task", args=[t.pk]), t.state,
                f"{t.release.number} · step {t.step} · {t.assignee_label}", t.pk)
    # A row deleted between the two queries is simply not shown.
    return [found[key] for key in rows if key in found]


@dataclass
class CalendarPeriod:
    """What the calendar draws of a run of days, bounded however busy they are."""

    entries: list[CalendarEntry]  # per kind, the first few starting on each day
    on_day: dict[date, int]  # how many entries (all kinds) are on each day
    starting: dict[date, int]  # how many start on each day; on the first, also those that started before


def calendar_period(user, first: date, last: date, per_day: int) -> CalendarPeriod:
    """The calendar from ``first`` to ``last`` (both included) for what this
    user may see, in three queries per kind however many entries it holds.

    A month holds thousands of entries (over 15,000 tasks at 100k releases)
    and a day shows a few, so only a few are loaded: per kind, the first
    ``per_day`` starting on each day by start (one that started before
    ``first`` counts as starting on it), ranked in SQL by a window function;
    then the rows of those. What is not loaded is counted in SQL: the
    period's entries grouped by their first and last day (clipped to the
    period), at most one row per pair of days, from which each day's count
    of entries on it and starting on it follow, so "+N more" is true.

    The database still reads every row of the period to count and rank them
    (a few hundred milliseconds for a busy month at 100k releases); what
    grows no more is what Python builds and the page draws.

    Enough to fill ``per_day`` lanes or agenda rows a day when entries last
    a day or so; a day crossed by many long entries that started days before
    may show fewer than it could, never a false count."""
    from django.db.models import Count, DateTimeField, F, Value, Window
    from django.db.models.functions import Greatest, Least, RowNumber, TruncDate

    tz = timezone.get_current_timezone()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    a, b = _day_bounds(first, tz)[0], _day_bounds(last, tz)[1]
    instant = timedelta(microseconds=1)
    on_day = dict.fromkeys(days, 0)
    starting = dict.fromkeys(days, 0)
    picked = []
    for kind, start, end, qs in _calendar_sources(user):
        rows = qs.filter(_on(start, end, a, b)).order_by()
        first_day = TruncDate(Greatest(start, Value(a, output_field=DateTimeField())), tzinfo=tz)
        # The last day as CalendarEntry.last_day has it (an entry ending at
        # midnight ends the day before: one instant before its end, unless it
        # has no length), clipped to the period.
        last_day = TruncDate(Least(Greatest(F(end) - Value(instant), start), Value(b - instant)), tzinfo=tz)
        spans = rows.values(cal_first=first_day, cal_last=last_day).annotate(n=Count("pk"))
        for d1, d2, n in spans.values_list("cal_first", "cal_last", "n"):
            starting[d1] += n
            for i in range((d2 - d1).days + 1):
                on_day[d1 + timedelta(days=i)] += n
        ranked = rows.annotate(cal_rank=Window(RowNumber(), partition_by=first_day,
                                               order_by=[F(start).asc(), F("pk").asc()]))
        picked += [(kind, pk) for pk in ranked.filter(cal_rank__lte=per_day).values_list("pk", flat=True)]
    return CalendarPeriod(calendar_rows(picked), on_day, starting)


def calendar_day(user, day: date):
    """Every entry on ``day`` as ``(kind, id)`` rows in the calendar's order
    (start, kind, id): a union of each kind's ids, which a Paginator counts and
    slices in SQL; ``calendar_rows`` then reads the page's entries."""
    from django.db.models import CharField, F, Value

    a, b = _day_bounds(day, timezone.get_current_timezone())
    parts = [qs.filter(_on(start, end, a, b)).order_by()
             .annotate(cal_start=F(start), cal_kind=Value(kind, output_field=CharField()), cal_id=F("pk"))
             .values_list("cal_start", "cal_kind", "cal_id")
             for kind, start, end, qs in _calendar_sources(user)]
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return rows.order_by("cal_start", "cal_kind", "cal_id")


def week_lanes(days: list[date], entries: list[CalendarEntry], max_lanes: int | None = None,
               on_day: dict[date, int] | None = None):
    """Lay a week's entries out as bars: each entry covers a run of days
    (clipped to the week) and gets the first lane free on all of them.
    Returns (lanes, hidden): lanes of segments, and per day how many entries
    are not shown: with ``on_day`` (each day's count of entries, when
    ``entries`` are only some of them), that count less the bars drawn on the
    day; without it, the entries that did not fit in ``max_lanes``."""
    first, last = days[0], days[-1]
    segments = []
    for e in entries:
        start, end = e.first_day, e.last_day
        if end < first or start > last:
            continue
        a, b = max(start, first), min(end, last)
        segments.append({"entry": e, "col": (a - first).days + 1, "span": (b - a).days + 1,
                         "before": start < first, "after": end > last})
    segments.sort(key=lambda g: (g["col"], -g["span"], KIND_ORDER.get(g["entry"].kind, 9), g["entry"].start))
    lanes: list[tuple[list[dict], list[bool]]] = []  # each lane's segments, and the days it has taken
    hidden = [0] * len(days)
    shown = [0] * len(days)
    for seg in segments:
        cols = range(seg["col"], seg["col"] + seg["span"])
        for lane, used in lanes:
            if not any(used[c - 1] for c in cols):
                break
        else:
            if max_lanes is not None and len(lanes) >= max_lanes:
                for c in cols:
                    hidden[c - 1] += 1
                continue
            lane, used = [], [False] * len(days)
            lanes.append((lane, used))
        lane.append(seg)
        for c in cols:
            used[c - 1] = True
            shown[c - 1] += 1
    if on_day is not None:
        hidden = [max(0, on_day.get(d, 0) - shown[i]) for i, d in enumerate(days)]
    return [lane for lane, _ in lanes], hidden


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


# The board shows at most this many cards per column: a column can hold
# thousands of tasks (9,000 open ones at 100k releases), and drawing each with
# its forms made the page 30 MB. The rest of a column is a page link away.
BOARD_COLUMN_SIZE = 50
BOARD_STATES = (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED, TaskState.DONE)
# Done tasks stay on the board for two weeks, then live on their release's page.
BOARD_DONE_DAYS = 14


def _board_column_q(state, cutoff) -> Q:
    if state == TaskState.DONE:
        return Q(state=state, updated_at__gte=cutoff)
    return Q(state=state)


def _board_order(state):
    """Planned end (tasks without one last, on PostgreSQL and SQLite alike),
    then id. For the done column the end is wrapped in COALESCE so that
    PostgreSQL cannot read it off the planned_end index: walking that index
    in order, it passes nearly a million older done tasks before the few
    done in the last two weeks (2 s at 1M tasks); unable to, it picks the
    recent done tasks first and sorts those. The open, in-progress and
    blocked tasks are spread along the index, so walking it finds a page at
    once (about 1 ms), and those columns keep the plain order."""
    from datetime import UTC

    from django.db.models import DateTimeField, F, Value
    from django.db.models.functions import Coalesce

    if state == TaskState.DONE:
        never = Value(datetime.max.replace(tzinfo=UTC), output_field=DateTimeField())
        return [Coalesce("planned_end", never).asc(), "pk"]
    return [F("planned_end").asc(nulls_last=True), "pk"]


def task_board(user, member: Membership, scope: str, release_id=None, column=None, page=1):
    """The task board's four columns (open, in progress, blocked, done), each
    a paginator ``Page`` of at most ``BOARD_COLUMN_SIZE`` tasks ordered by
    planned end then id: page ``page`` for the column ``column`` (its last if
    past the end), the first page for the others. One query counts all four columns (no rows loaded), then one
    per non-empty column fetches its page: at most five, however many tasks.

    Offset pagination, not keyset: the sort key starts with ``planned_end``,
    which may be empty, so a keyset cursor would need a NULL-aware
    comparison; page numbers also give the "51-100 of 1,234" the column shows
    and a link that can be shared. A deep page costs an offset scan of that
    one column (the deepest at 100k releases, 9,000 open tasks in, about
    0.1 s against 5 ms for the first). A task that changes column between two page loads may
    shift the others by one, which a board that moves anyway can bear.
    """
    # NOT EXISTS rather than a join: the join hashes all 100,000 releases
    # to drop tasks of the 10,000 cancelled ones; the anti-join reads only
    # those (the state index).
    cancelled = Release.objects.filter(pk=OuterRef("release_id"), state=ReleaseState.CANCELLED)
    qs = Task.objects.restrict(user).filter(~Exists(cancelled))
    if scope == "mine":
        qs = qs.filter(member.mine_q())
    if release_id:
        qs = qs.filter(release_id=release_id)
    cutoff = timezone.now() - timedelta(days=BOARD_DONE_DAYS)
    on_board = Q()
    for state in BOARD_STATES:
        on_board |= _board_column_q(state, cutoff)
    totals = dict(qs.filter(on_board).order_by().values_list("state").annotate(n=Count("pk")))
    rows = qs.select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
    columns = {}
    for state in BOARD_STATES:
        paginator = Paginator(rows.filter(_board_column_q(state, cutoff)).order_by(*_board_order(state)),
                              BOARD_COLUMN_SIZE)
        paginator.count = totals.get(state, 0)  # counted above with the other columns, not once each
        col = paginator.get_page(max(1, page) if state == column else 1)
        col.object_list = list(col.object_list)  # an empty column's slice [0:0] runs no query
        columns[state] = col
    return columns
