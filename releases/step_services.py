"""A step record saved and the step it completes taken in one action
("Save and submit the plan"): the page offers it when the record being
saved is the last thing the step still needs.

Both go through their own service path: the record as ``record_add`` or
``record_update`` writes it, the step as ``release_transition`` takes it
(``releasemgmt.workflow.run_transition``: role, guards, history). One
transaction holds both: if a guard still refuses the step, the record is
not kept either and the refusal (with its blockers) is kept as any other,
so the person sees the form again with what is missing, and nothing has
changed."""
from __future__ import annotations

from django.db import transaction

from releasemgmt.refusals import logs_refusals

from . import services
from .models import Release


def _subject(kwargs):
    return Release, kwargs["release_id"]


@logs_refusals(subject=_subject)
def record_add_and_take(*, release_id, record_type: str, then: str, by, **data):
    """Add a step record, then take the step ``then``; returns both."""
    with transaction.atomic():
        record = services.record_add(release_id=release_id, record_type=record_type, by=by, **data)
        release = services.release_transition(release_id=release_id, name=then, by=by)
    return record, release


@logs_refusals(subject=_subject)
def record_update_and_take(*, release_id, record, then: str, by, **data):
    """Finish a step record of this release (a half-filled build document),
    then take the step ``then``."""
    with transaction.atomic():
        record = services.record_update(record=record, by=by, **data)
        release = services.release_transition(release_id=release_id, name=then, by=by)
    return record, release


@logs_refusals(subject=_subject)
def release_update_and_take(*, release_id, then: str, by, **fields):
    """Change the ticket (its acceptance criteria), then take the step ``then``."""
    with transaction.atomic():
        services.release_update(release_id=release_id, by=by, **fields)
        return services.release_transition(release_id=release_id, name=then, by=by)


@logs_refusals(subject=_subject)
def task_create_and_take(*, release_id, then: str, by, **fields):
    """Plan a release activity, then take the step ``then`` (scheduling, once
    the activities are assigned)."""
    with transaction.atomic():
        task = services.task_create(release_id=release_id, by=by, **fields)
        release = services.release_transition(release_id=release_id, name=then, by=by)
    return task, release
