"""What waits on one person: their queue, across the whole process.

Every item is derived from a declaration, never from a list kept beside it:
the transitions of releases and RFCs (their sources and ``roles``), the step
records (``writers`` and ``open_states``), the pre-release baseline's writers
and states (``releases.services``), the CAB and Go/No-Go queues (``queues``,
``cab``) and task assignment. The dashboard, ``GET /api/me/queue/`` and the
notification that work landed (``notifications.queue``) all read this one
function, so they never disagree.

Each source is one query (and one count when its rows fill the page), however
many items it holds; the sources are merged oldest first: what has waited
longest leads.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.text import capfirst

from changes.models import ChangeRequest
from releasemgmt.workflow import name_of, specs, user_roles

from ..choices import STATE_ORDER, ReleaseType
from ..models import RECORD_TYPES, Release, Task, TestCase, TransitionLog
from ..services import BASELINE_STATES, BASELINE_WRITERS
from .access import ACTIVE_TASK_STATES, ENDED, Membership
from .cab import cab_queue
from .queues import QUEUED_ELSEWHERE, _acting, _in_pairs, go_queue, role_queue

RM = "release_manager"

# The step records whose absence holds a release up and that someone other
# than its manager writes: each waits on its writers in the last state its
# step is open (``open_states``), while the release has none. Test results
# wait while a test case has none; training plans, rollback advice, problem
# references and the like are written when there is cause, not by rule.
QUEUED_RECORDS = ("build_documents", "security_checks", "prerequisite_checks", "test_results",
                  "environment_readiness", "readiness_assessments", "backups", "health_checks",
                  "evaluations", "reviews")


@dataclass(frozen=True)
class QueueItem:
    """One thing waiting on a person: what to do (``action``), on what
    (``subject``: a release, an RFC or a task), since when, and the address of
    the form that does it. ``key`` names the item while it waits: the same
    work seen twice has the same key (the notification is sent once by it);
    work that comes back (a plan revised, a release sent back a step) has a
    new one."""

    key: str
    kind: str
    action: str
    subject: str
    release_id: int | None
    release_number: str
    since: datetime
    url: str


@dataclass
class Queue:
    items: list
    total: int


@dataclass(frozen=True)
class _Source:
    qs: QuerySet
    item: Callable  # row -> QueueItem


def _entered(model):
    """The time (and the log row) the outer object entered its current state:
    its latest transition, read off the log's (content type, object, at) index."""
    logs = (TransitionLog.objects.filter(content_type=ContentType.objects.get_for_model(model),
                                         object_id=OuterRef("pk")).order_by("-at", "-pk"))
    return {"entered_log": Subquery(logs.values("pk")[:1]),
            "since": Coalesce(Subquery(logs.values("at")[:1]), F("created_at"))}


def _releases(qs):
    return qs.annotate(**_entered(Release)).order_by("since", "pk")


def _detail(release, anchor="next-steps"):
    return reverse("releases:detail", args=[release.pk]) + f"#{anchor}"


def _release_item(kind, action, release, url, key=None) -> QueueItem:
    return QueueItem(key or f"{kind}:{release.pk}:{release.entered_log or 0}", kind, action,
                     f"{release.number} {release.title}", release.pk, release.number, release.since, url)


# --- the sources --------------------------------------------------------------------


def _step_sources(user, roles) -> list[_Source]:
    """Steps of releases one of the user's roles takes (``queues.role_queue``)
    and, for a release manager, the next steps of their own releases: the
    way forward, not a setback or a cancellation."""
    out = []
    qs, steps = role_queue(user)
    out.append(_Source(_releases(qs), lambda r, steps=steps: _release_item(
        "step", ", ".join(steps[r.state, r.release_type]), r, _detail(r))))
    if RM in roles:
        skip = QUEUED_ELSEWHERE | {s.name for s in specs(Release).values() if s.setback}
        mine = _acting({RM}, skip=skip)
        where = _in_pairs(mine)
        if where is not None:
            own = Release.objects.restrict(user).filter(where, release_manager=user).exclude(state__in=ENDED)
            out.append(_Source(_releases(own), lambda r: _release_item(
                "step", ", ".join(mine[r.state, r.release_type]), r, _detail(r))))
    return out


def _decision_sources(user) -> list[_Source]:
    go, _ = go_queue(user)
    return [
        _Source(_releases(cab_queue(user)), lambda r: _release_item(
            "cab_vote", f"Vote on plan v{r.current_plan_version}", r,
            reverse("releases:cab_review", args=[r.pk]) + "#vote", key=f"cab_vote:{r.pk}:{r.current_plan_id}")),
        _Source(_releases(go), lambda r: _release_item("go", "Decide Go or No-Go", r, _detail(r))),
    ]


def _last_open_state(model) -> str | None:
    states = [s for s in STATE_ORDER if s in model.open_states]
    return states[-1] if states else None


def _record_sources(user, roles) -> list[_Source]:
    """Records that wait on a role of the user's (not as release manager:
    their own step lists what it lacks) where no step of theirs already
    stands: a build team completing a build sees "Complete build", whose
    blockers name the records it lacks."""
    doers = roles - {RM}
    stepping = set(_acting(doers, skip=QUEUED_ELSEWHERE))
    out = []
    for record_type in QUEUED_RECORDS:
        model = RECORD_TYPES[record_type]
        state = _last_open_state(model)
        if not doers & set(model.writers) or state is None:
            continue
        types = [t for t in ReleaseType.values if (state, t) not in stepping]
        if not types:
            continue
        if model is RECORD_TYPES["test_results"]:
            waiting = Exists(TestCase.objects.filter(release=OuterRef("pk"), results__isnull=True))
        else:
            waiting = ~Exists(model.objects.filter(release=OuterRef("pk")))
        qs = Release.objects.restrict(user).filter(waiting, state=state, release_type__in=types)
        action = f"Record the {model._meta.verbose_name}"
        url_of = (lambda r, rt=record_type: reverse("releases:record_add", args=[r.pk, rt]))
        out.append(_Source(_releases(qs), lambda r, a=action, u=url_of, rt=record_type: _release_item(
            f"record:{rt}", a, r, u(r))))
    return out


def _baseline_sources(user, roles) -> list[_Source]:
    """The pre-release baseline (the restore point) of releases being packaged
    or built, for its writers other than the release manager."""
    if not (roles - {RM}) & set(BASELINE_WRITERS):
        return []
    captured = Q(baselines__kind="pre_release", baselines__state="captured")
    qs = Release.objects.restrict(user).filter(state__in=BASELINE_STATES).exclude(
        pk__in=Release.objects.filter(captured).values("pk"))
    return [_Source(_releases(qs), lambda r: _release_item(
        "baseline", "Capture the pre-release baseline", r, _detail(r, "baselines"), key=f"baseline:{r.pk}"))]


def _rfc_sources(user, roles) -> list[_Source]:
    """RFCs to assess or authorise: the way forward of the RFC's declared
    transitions from the states they wait in, not the proposer's own (who may
    not decide it)."""
    steps: dict[str, list[str]] = {}
    for spec in specs(ChangeRequest).values():
        if spec.internal or spec.setback or spec.reason or not roles & set(spec.roles_for(None)):
            continue
        for state in spec.sources:
            steps.setdefault(state, []).append(spec.title)
    if not steps:
        return []
    qs = (ChangeRequest.objects.restrict(user).filter(state__in=sorted(steps))
          .exclude(Q(requester=user) | Q(raised_by=user)).annotate(**_entered(ChangeRequest))
          .only("id", "title", "state", "created_at").order_by("since", "pk"))
    return [_Source(qs, lambda c: QueueItem(
        f"rfc:{c.pk}:{c.entered_log or 0}", "rfc", ", ".join(steps[c.state]), f"{c.number} {c.title}", None, "",
        c.since, reverse("changes:detail", args=[c.pk]) + "#next-steps"))]


def _task_sources(user, member) -> list[_Source]:
    """Tasks assigned to the user, their teams or their vendor (a vendor's
    user sees their vendor's tasks and nothing else: ``Task.objects.restrict``)."""
    qs = (Task.objects.restrict(user).filter(member.mine_q(), state__in=ACTIVE_TASK_STATES)
          .exclude(release__state__in=ENDED).select_related("release")
          .only("id", "title", "state", "created_at", "release", "release__id", "release__title",
                "release__state")  # the state: Release reads it when loaded (django-fsm)
          .annotate(since=F("created_at")).order_by("since", "pk"))
    return [_Source(qs, lambda t: QueueItem(
        f"task:{t.pk}", "task", f"Task: {t.title}", f"{t.release.number} {t.release.title}", t.release_id,
        t.release.number, t.since, reverse("releases:task", args=[t.pk])))]


def _sources(user, *, release_id=None, rfc_id=None, member=None) -> list[_Source]:
    if not user.is_authenticated:
        return []
    member = member or Membership.of(user)
    roles = member.roles
    if not roles:
        return []
    sources = _rfc_sources(user, roles) if release_id is None else []
    if rfc_id is None:
        sources += (_decision_sources(user) + _step_sources(user, roles) + _record_sources(user, roles)
                    + _baseline_sources(user, roles) + _task_sources(user, member))
    if release_id is not None:
        sources = [_Source(s.qs.filter(**{"release_id" if s.qs.model is Task else "pk": release_id}), s.item)
                   for s in sources]
    if rfc_id is not None:
        sources = [_Source(s.qs.filter(pk=rfc_id), s.item) for s in sources if s.qs.model is ChangeRequest]
    return sources


def work_queue(user, *, offset: int = 0, limit: int = 20, release_id=None, rfc_id=None, member=None) -> Queue:
    """What waits on ``user``, oldest first: the items ``offset`` to
    ``offset + limit`` and the total. With ``release_id`` (or ``rfc_id``),
    only what waits on them about that release (RFC). ``member``: the user's
    ``Membership`` when the caller has read it already (their teams and vendors)."""
    need = offset + limit
    items: dict[str, QueueItem] = {}
    total = 0
    for source in _sources(user, release_id=release_id, rfc_id=rfc_id, member=member):
        rows = list(source.qs[:need])
        total += len(rows) if len(rows) < need else source.qs.count()
        for row in rows:
            item = source.item(row)
            if item.key in items:  # one release step reached through two roles
                total -= 1
            items.setdefault(item.key, item)
    ordered = sorted(items.values(), key=lambda i: (i.since, i.key))
    return Queue(ordered[offset:need], total)


def roles_waited_on(obj) -> set[str]:
    """The roles something may now wait on after ``obj`` (a release or an RFC)
    moved: those of the declared steps from its state, of the records waiting
    there, of its baseline. Who is asked ``work_queue`` when it moves."""
    roles = set()
    for spec in specs(type(obj)).values():
        if not spec.internal and obj.state in spec.sources:
            roles |= set(spec.roles_for(obj))
    if isinstance(obj, Release):
        for record_type in QUEUED_RECORDS:
            model = RECORD_TYPES[record_type]
            if _last_open_state(model) == obj.state:
                roles |= set(model.writers)
        if obj.state in BASELINE_STATES:
            roles |= set(BASELINE_WRITERS)
    return roles
