"""The CAB: the plans before it, a member's queue, and the tally of votes."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Q, Subquery

from releasemgmt.workflow import user_roles

from ..choices import ReleaseState, VoteDecision
from ..guards import cab_quorum
from ..models import CabVote, Release, ReleasePlan, Signature


# The CAB page lists this many plans a page (``?page=``, ``?others_page=``):
# with years of history hundreds of plans are before the CAB, and drawn whole
# the list made the page slow.
CAB_PAGE_SIZE = 50


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
