"""RFC use cases."""
from __future__ import annotations

from django.db import transaction

from releasemgmt.workflow import TransitionForbidden, run_transition, user_roles

from .models import ChangeRequest


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


def rfc_transition(*, rfc_id, name: str, by, **payload) -> ChangeRequest:
    with transaction.atomic():
        return run_transition(ChangeRequest, rfc_id, name, by=by, payload=payload)
