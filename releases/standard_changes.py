"""Standard changes: a change manager's signed standing approval of a release
template for named CIs, its withdrawal, and the plan approvals it gives.

A standing approval is a signed decision like a CAB vote: the change manager
proves who they are again (``releasemgmt.signing``), whatever the door (API,
page, admin), and the signature is kept beside the record. A release raised
from the template whose scope lies within the CIs has its plan approved by
it when the plan is submitted: ``approve_plan`` still runs, through
``run_transition`` like every step (the RFCs must be authorised, the history,
the log and the notices are the same), on the authority of the change
manager who signed the standing approval, with a signature that names the
standing approval instead of a password typed at that moment. Every other
step stays as it is.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from releasemgmt import signing
from releasemgmt.errors import Blocker, InvalidState, TransitionError, TransitionForbidden
from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import has_any_role, name_of, run_transition

from .models import Release, ReleaseTemplate, Signature, StandardChange, TransitionLog

CM = ("change_manager",)
# What the signatures of these decisions mean (``Signature.meaning``).
APPROVE = "approve_standard_change"
WITHDRAW = "withdraw_standard_change"


def _subject(kwargs):
    return StandardChange, kwargs["standard_change_id"]


@logs_refusals()
def standard_change_check(*, by) -> None:
    """Standard changes are Change Management's to approve and withdraw."""
    if not has_any_role(by, CM):
        raise TransitionForbidden(APPROVE, "Only a change manager may approve or withdraw a standard change.")


@logs_refusals()
@signing.counts_failures
def standard_change_approve(*, by, template, cis, signature=None, note: str = "") -> StandardChange:
    """Approve ``template`` as a standard change for ``cis``, signed: from
    now on a release raised from it for those CIs needs no CAB vote."""
    with transaction.atomic():
        standard_change_check(by=by)
        template = ReleaseTemplate.objects.select_for_update().get(pk=getattr(template, "pk", template))
        cis = list(cis)
        if not template.active:
            raise ValidationError({"template": f"The template “{template.name}” is retired."})
        if not cis:
            raise ValidationError({"cis": "Name at least one configuration item the standard change is for."})
        signed_with = signing.verify(by, signature, decision=APPROVE)
        now = timezone.now()
        standard = StandardChange(template=template, template_updated_at=template.updated_at, note=note,
                                  approved_by=by, approved_at=now)
        standard.full_clean(exclude=["cis"])
        standard._history_user = by
        standard._change_reason = APPROVE
        standard.save()
        standard.cis.set(cis)
        signing.record(by=by, method=signed_with, meaning=APPROVE, content=standard.signed_content(),
                       decision=standard, at=now)
        return standard


@logs_refusals(subject=_subject)
@signing.counts_failures
def standard_change_withdraw(*, standard_change_id, by, signature=None, reason: str = "") -> StandardChange:
    """Withdraw a standing approval, signed: releases whose plans it approved
    keep that approval; plans submitted from now on go to the CAB."""
    with transaction.atomic():
        standard = StandardChange.objects.select_for_update().get(pk=standard_change_id)
        standard_change_check(by=by)
        if not standard.active:
            message = f"{standard.number} was withdrawn on {standard.withdrawn_at:%Y-%m-%d %H:%M} UTC."
            raise InvalidState(WITHDRAW, message, [Blocker("invalid_state", message)])
        if not reason.strip():
            raise ValidationError({"reason": "Say why the standard change is withdrawn."})
        signed_with = signing.verify(by, signature, decision=WITHDRAW)
        now = timezone.now()
        standard.withdrawn_by, standard.withdrawn_at, standard.withdrawal_reason = by, now, reason
        standard._history_user = by
        standard._change_reason = WITHDRAW
        standard.save()
        # The withdrawal is a decision of its own, logged and signed beside the approval.
        log = TransitionLog.record(standard, name=WITHDRAW, source="active", target="withdrawn", by=by, at=now,
                                   reason=reason, payload={"reason": reason})
        signing.record(by=by, method=signed_with, meaning=WITHDRAW,
                       content={"standard_change": standard.number, "standard_change_id": standard.pk,
                                "reason": reason}, decision=log, at=now)
        return standard


def signatures_of(standards) -> dict[tuple[int, str], object]:
    """The signatures of these standing approvals and of their withdrawals,
    by (id, meaning): two queries, none without standing approvals."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    ids = [s.pk for s in standards]
    if not ids:
        return {}
    kind = ContentType.objects.get_for_model(StandardChange)
    withdrawals = dict(TransitionLog.objects.filter(content_type=kind, object_id__in=ids, name=WITHDRAW)
                       .values_list("pk", "object_id"))
    rows = Signature.objects.filter(Q(content_type=kind, object_id__in=ids)
                                    | Q(content_type__model="transitionlog", content_type__app_label="releases",
                                        object_id__in=list(withdrawals)))
    return {(s.object_id if s.meaning == APPROVE else withdrawals[s.object_id], s.meaning): s for s in rows}


def approve_plan_as_standard(release_id) -> Release | None:
    """Right after the plan of ``release_id`` is submitted: approve it
    (``approve_plan``, which notes the standing approval on the release) if
    one covers it. When none does, or the step is refused (an RFC
    not authorised yet, say), the plan waits for the CAB as any other, and
    nothing of the attempt is kept."""
    release = Release.objects.get(pk=release_id)
    standard = StandardChange.objects.covering(release)
    if standard is None:
        return None
    sig = signatures_of([standard]).get((standard.pk, APPROVE))
    credential = signing.Standing(signer_id=standard.approved_by_id, reference={
        "standard_change": standard.number, "standard_change_id": standard.pk,
        "signed_by": standard.approved_by.get_username(), "signed_at": standard.approved_at,
        "fingerprint": sig.fingerprint if sig else "",
    })
    reason = (f"Standard change {standard.number}: approved in advance by {standard.approved_by.get_username()} "
              f"on {standard.approved_at:%Y-%m-%d %H:%M} UTC for the template “{standard.template.name}” and "
              f"{', '.join(sorted(ci.name for ci in standard.cis.all()))}.")
    try:
        with transaction.atomic():
            release = run_transition(Release, release_id, name_of(Release.approve_plan), by=standard.approved_by,
                                     system=True, signature=credential,
                                     payload={"reason": reason, "standard_change": standard.pk})
    except TransitionError:
        return None
    return release
