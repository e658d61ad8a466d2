"""Freeze windows (change freezes, blackouts): who may declare, move or lift
one is decided here, whatever the door (the API, the admin), and a refusal
is kept like every other.

A freeze window is reference data of the change schedule without a state
machine of its own: the services save it as it is, with its history, after
the model's own validation (it ends after it starts)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import TransitionForbidden, has_any_role, roles_text

from .models import FreezeWindow

# The roles that plan releases around freezes and own the change schedule;
# the admin asks the same check (releases.admin.calendar).
FREEZE_WRITERS = ("release_manager", "change_manager")
FREEZE_FIELDS = frozenset({"name", "start", "end", "reason", "cis"})


def _subject(kwargs):
    return (FreezeWindow, kwargs["freeze_id"]) if kwargs.get("freeze_id") is not None else None


@logs_refusals(subject=_subject)
def freeze_window_check(*, by, freeze_id=None) -> None:
    """Release and change managers declare, change and lift freeze windows."""
    if not has_any_role(by, FREEZE_WRITERS):
        raise TransitionForbidden("write_freeze_window",
                                  f"Only {roles_text(FREEZE_WRITERS)} may declare, change or lift a freeze window.")


def _save(freeze: FreezeWindow, *, by, cis, reason: str) -> FreezeWindow:
    freeze.full_clean(exclude=["cis", "created_by"])
    freeze._history_user = by
    freeze._change_reason = reason
    freeze.save()
    if cis is not None:
        freeze.cis.set(cis)
    return freeze


def _known(fields: dict) -> dict:
    unknown = set(fields) - FREEZE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in sorted(unknown)})
    return fields


@logs_refusals(subject=_subject)
@transaction.atomic
def freeze_window_create(*, by, cis=(), **fields) -> FreezeWindow:
    """Declare a freeze window: global, or on the configuration items ``cis``."""
    freeze_window_check(by=by)
    return _save(FreezeWindow(created_by=by, **_known(fields)), by=by, cis=list(cis), reason="create")


@logs_refusals(subject=_subject)
@transaction.atomic
def freeze_window_update(*, freeze_id, by, **fields) -> FreezeWindow:
    """Move a freeze window, rename it, or change what it covers."""
    freeze_window_check(by=by, freeze_id=freeze_id)
    freeze = FreezeWindow.objects.select_for_update().get(pk=freeze_id)
    cis = _known(fields).pop("cis", None)
    for name, value in fields.items():
        setattr(freeze, name, value)
    return _save(freeze, by=by, cis=cis, reason="update")


@logs_refusals(subject=_subject)
@transaction.atomic
def freeze_window_delete(*, freeze_id, by) -> None:
    """Lift a freeze window (its history keeps it)."""
    freeze_window_check(by=by, freeze_id=freeze_id)
    freeze = FreezeWindow.objects.select_for_update().get(pk=freeze_id)
    freeze._history_user = by
    freeze._change_reason = "delete"
    freeze.delete()
