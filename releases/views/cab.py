"""The CAB: the queue of plans awaiting my vote, and one plan under review
with its diff, the votes against the quorum, and the vote itself."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from releasemgmt.forms import TransitionForm
from releasemgmt.refusals import permits
from releasemgmt.ui import apply_errors, ask, post_only, reader_required, target_label
from releasemgmt.workflow import TransitionError, available, name_of, specs, user_roles

from .. import services
from ..forms import VoteForm
from ..models import CabVote, Release
from ..selectors import (
    CAB_PAGE_SIZE,
    cab_queue,
    plan_diff,
    plans_under_review,
    previous_plan,
    release_for_page,
    vote_tally,
)


@reader_required
def cab_queue_view(request):
    """The plans awaiting my vote and the other plans before the CAB, each
    CAB_PAGE_SIZE a page (``?page=``, ``?others_page=``), counted and sliced
    in SQL: with years of history hundreds of plans can be before the CAB."""
    queue = Paginator(cab_queue(request.user), CAB_PAGE_SIZE).get_page(request.GET.get("page"))
    others = Paginator(plans_under_review(request.user), CAB_PAGE_SIZE).get_page(request.GET.get("others_page"))
    return render(request, "releases/cab_queue.html", {"queue": queue, "others": others})


def _vote_state(release, user):
    """Whether this user may vote on the current plan now, and why not (the
    service decides when the vote is cast)."""
    if not permits(services.record_writer_check, model=CabVote, release=release, by=user):
        return False, "Only CAB members vote."
    if release.state != "plan_submitted":
        return False, "The plan is not before the CAB."
    plan = release.current_plan
    if plan is None:
        return False, "There is no plan to vote on."
    if user.pk in release.conflicted_user_ids():
        return False, "You manage this release or requested (or raised) one of its RFCs, so you may not vote on it."
    if any(v.created_by_id == user.pk for v in plan.votes.all()):
        return False, "You have voted on this version of the plan."
    return True, ""


def _offers_approval(release, user, tally) -> bool:
    """Whether this voter's approving vote would reach the quorum and they
    may then approve the plan themselves (a role ``approve_plan`` declares;
    its guards decide again when the vote is cast)."""
    spec = specs(Release)[name_of(Release.approve_plan)]
    return (not tally.rejections and tally.approvals + 1 >= tally.quorum
            and bool(user_roles(user) & set(spec.roles_for(release))))


def render_review(request, pk, *, status=200, vote_form=None, transition=None):
    try:
        release = release_for_page(pk, request.user)
    except Release.DoesNotExist:
        raise Http404("No such release.") from None
    plan = release.current_plan
    before = previous_plan(release, plan)
    may_vote, why_not = _vote_state(release, request.user)
    tally = vote_tally(release)
    decisions = []
    for t in available(release, request.user):
        if t["name"] not in (name_of(Release.approve_plan), name_of(Release.reject_plan)):
            continue
        t = dict(t, signed=t["signature_required"], target_label=target_label(Release, t["target"]),
                 setback=specs(Release)[t["name"]].setback,
                 url=reverse("releases:transition", args=[release.pk, t["name"]]),
                 forbidden=any(b["code"] == "role_forbidden" for b in t["blockers"]))
        if transition and transition[0] == t["name"]:
            t["form"], t["errors"] = transition[1], transition[2]
        else:
            t["form"] = TransitionForm(user=request.user, reason=t["reason_required"], signed=t["signed"],
                                       prefix=t["name"])
            t["errors"] = []
        decisions.append(t)
    return render(request, "releases/cab_review.html", {
        "release": release, "plan": plan, "before": before,
        "diff": plan_diff(before, plan) if plan else [],
        "tally": tally, "may_vote": may_vote, "why_not": why_not,
        "vote_form": vote_form or (VoteForm(user=request.user, prefix="vote",
                                            offer_approval=_offers_approval(release, request.user, tally))
                                   if may_vote else None),
        "decisions": [t for t in decisions if not t["forbidden"]],
        "rfcs": list(release.rfcs.all()), "scope": list(release.scope_items.all()),
    }, status=status)


@reader_required
def cab_review_view(request, pk):
    return render_review(request, pk)


@post_only("releases:cab_review")
@reader_required
def cab_vote_view(request, pk):
    release = Release.objects.restrict(request.user).filter(pk=pk).first()
    if release is None:
        raise Http404("No such release.")
    ask(services.record_writer_check, model=CabVote, release=release, by=request.user)
    form = VoteForm(request.POST, user=request.user, prefix="vote",
                    offer_approval=request.POST.get("vote-approve_plan") is not None)
    status = 400
    if form.is_valid():
        approve = form.cleaned_data.get("approve_plan", False)
        try:
            if approve:
                services.cab_vote_and_approve(release_id=release.pk, by=request.user, signature=form.credential(),
                                              comment=form.cleaned_data["comment"].strip())
            else:
                services.record_add(release_id=release.pk, record_type="votes", by=request.user,
                                    signature=form.credential(), decision=form.cleaned_data["decision"],
                                    comment=form.cleaned_data["comment"].strip())
        except (TransitionError, ValidationError) as exc:
            status = apply_errors(form, exc)
        else:
            messages.success(request, f"Your vote on {release.number} is recorded"
                             + (" and the plan is approved." if approve else "."))
            if request.htmx:  # the whole page changes (votes, tally, state): the browser loads it
                return HttpResponseClientRedirect(reverse("releases:cab_review", args=[release.pk]))
            return redirect("releases:cab_review", pk=release.pk)
    if request.htmx:
        return render(request, "releases/vote_form.html", {"release": release, "vote_form": form}, status=status)
    return render_review(request, pk, status=status, vote_form=form)

