"""Everything the dashboard shows, each list one query.

The dashboard leads with what waits on the person (``waiting.work_queue``:
their CAB votes, Go/No-Go decisions, their role's steps and records, their
tasks), and shows each of those once: no card below repeats a list the
queue holds. The rest is about the releases, not the person's work: their
own releases by step, what is overdue, upcoming deployments, freezes."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from releasemgmt import authz

from ..choices import STATE_ORDER, STEPS
from ..models import FreezeWindow, Release, ReleasePlan, Task
from .access import ACTIVE_TASK_STATES, ENDED, Membership
from .queues import DASHBOARD_QUEUE
from .waiting import work_queue

DASHBOARD_RELEASES = 50
DASHBOARD_DEPLOYMENTS = 20  # the calendar shows them all


def dashboard(user, now=None) -> dict:
    """Everything the dashboard shows, each list one query."""
    now = now or timezone.now()
    member = Membership.of(user)
    reader = authz.reader(user).internal
    data = {"member": member, "reader": reader, "now": now}
    # What waits on this person leads the page, a vendor's included: their
    # tasks, CAB votes, Go/No-Go decisions and their role's steps are in it.
    data["work_queue"] = work_queue(user, limit=DASHBOARD_QUEUE, member=member)
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
    plan is gone), decided in SQL, so ``limit`` bounds the rows fetched: with
    years of history a 30-day horizon holds over a thousand windows."""
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
