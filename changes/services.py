"""RFC use cases."""
from __future__ import annotations

from django.db import transaction

from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import TransitionForbidden, run_transition, user_roles

from .models import ChangeRequest


@logs_refusals()
@transaction.atomic
def rfc_create(*, by, title: str, description: str, **fields) -> ChangeRequest:
    """Raise an RFC. Anyone with a role in the process may request a change."""
    if not user_roles(by):
        raise TransitionForbidden("create", "You need a role in the release process to raise an RFC.")
    rfc = ChangeRequest(title=title, description=description, requester=fields.pop("requester", None) or by, **fields)
    rfc.full_clean(exclude=["state"])
    rfc._history_user = by
    rfc._change_reason = "create"
    rfc.save()
    return rfc


@logs_refusals(subject=lambda kw: (ChangeRequest, kw["rfc_id"]))
def rfc_transition(*, rfc_id, name: str, by, **payload) -> ChangeRequest:
    with transaction.atomic():
        return run_transition(ChangeRequest, rfc_id, name, by=by, payload=payload)


EDITABLE_STATES = ("submitted", "assessed")
RFC_EDITABLE_FIELDS = {"title", "description", "change_type", "risk", "impact"}


@logs_refusals(subject=lambda kw: (ChangeRequest, kw["rfc_id"]))
@transaction.atomic
def rfc_update(*, rfc_id, by, **fields) -> ChangeRequest:
    """The requester or a change manager corrects an RFC before it is authorised."""
    from django.core.exceptions import ValidationError

    from releasemgmt.workflow import Blocker, TransitionBlocked

    rfc = ChangeRequest.objects.select_for_update().get(pk=rfc_id)
    if rfc.requester_id != by.pk and "change_manager" not in user_roles(by):
        raise TransitionForbidden("update", "Only the requester or a change manager may edit this RFC.")
    if rfc.state not in EDITABLE_STATES:
        raise TransitionBlocked("update", "An authorised RFC is no longer edited; raise a new one.",
                                [Blocker("step_closed", f"The RFC is {rfc.get_state_display().lower()}.")],
                                code="step_closed")
    unknown = set(fields) - RFC_EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be edited." for name in sorted(unknown)})
    for key, value in fields.items():
        setattr(rfc, key, value)
    rfc.full_clean(exclude=["state"])
    rfc._history_user = by
    rfc._change_reason = "update"
    rfc.save()
    return rfc
