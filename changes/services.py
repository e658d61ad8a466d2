"""RFC use cases."""
from __future__ import annotations

from datetime import timezone as dt_timezone

from django.core.exceptions import ValidationError
from django.db import transaction

from releasemgmt import events, signing
from releasemgmt.errors import Duplicate, InvalidState
from releasemgmt.history import log_model
from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import (
    Blocker,
    TransitionForbidden,
    has_any_role,
    name_of,
    run_transition,
    specs,
    user_label,
    user_roles,
)

from .models import PROBLEM_ROLES, ChangeRequest, Problem
from .relations import release_model


# --- who may: the checks each use case makes, also asked first by the entry points ----------


@logs_refusals()
def rfc_create_check(*, by) -> None:
    """Anyone with a role in the process may request a change."""
    if not user_roles(by):
        raise TransitionForbidden("create", "You need a role in the release process to raise an RFC.")


@logs_refusals(subject=lambda kw: (ChangeRequest, kw["rfc"].pk))
def rfc_update_check(*, rfc, by) -> None:
    """The requester or a change manager corrects an RFC."""
    if rfc.requester_id != by.pk and "change_manager" not in user_roles(by):
        raise TransitionForbidden("update", "Only the requester or a change manager may edit this RFC.")


@logs_refusals()
def problem_open_check(*, by) -> None:
    if not has_any_role(by, PROBLEM_ROLES):
        raise TransitionForbidden("open_problem", "Only a release manager or change manager may open a problem "
                                                  "record.")


@logs_refusals(subject=lambda kw: (Problem, kw["problem"].pk))
def problem_update_check(*, problem, by) -> None:
    if not has_any_role(by, PROBLEM_ROLES):
        raise TransitionForbidden("update", "Only a release manager or change manager may edit a problem record.")


# --- RFCs -----------------------------------------------------------------------------------


RFC_RAISED = "raised"


@logs_refusals()
@transaction.atomic
def rfc_create(*, by, title: str, description: str, **fields) -> ChangeRequest:
    """Raise an RFC, in one's own name or (``requester``) in someone else's.
    Whoever raises it counts as its requester for segregation of duties:
    they may not assess or authorise it, nor approve its release."""
    rfc_create_check(by=by)
    rfc = ChangeRequest(title=title, description=description, requester=fields.pop("requester", None) or by,
                        raised_by=by, **fields)
    rfc.full_clean(exclude=["state"])
    rfc._history_user = by
    rfc._change_reason = "create"
    rfc.save()
    # A new RFC waits on change management from the start: no transition
    # brought it there, so the raising is announced.
    events.announce(rfc, RFC_RAISED, by=by)
    return rfc


@logs_refusals(subject=lambda kw: (ChangeRequest, kw["rfc_id"]))
@signing.counts_failures
def rfc_transition(*, rfc_id, name: str, by, signature=None, **payload) -> ChangeRequest:
    """One step of an RFC; authorising or rejecting it is signed with the
    decider's credential (``releasemgmt.signing``)."""
    with transaction.atomic():
        return run_transition(ChangeRequest, rfc_id, name, by=by, payload=payload, signature=signature)


EDITABLE_STATES = ("submitted", "assessed")
RFC_EDITABLE_FIELDS = {"title", "description", "change_type", "risk", "impact"}


@logs_refusals(subject=lambda kw: (ChangeRequest, kw["rfc_id"]))
@transaction.atomic
def rfc_update(*, rfc_id, by, **fields) -> ChangeRequest:
    """The requester or a change manager corrects an RFC before it is authorised."""
    rfc = ChangeRequest.objects.select_for_update().get(pk=rfc_id)
    rfc_update_check(rfc=rfc, by=by)
    if rfc.state not in EDITABLE_STATES:
        raise InvalidState("update", "An authorised RFC is no longer edited; raise a new one.",
                           [Blocker("step_closed", f"The RFC is {rfc.get_state_display().lower()}.")])
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


# --- Problem Management ---------------------------------------------------------------

# Release states that say the release failed and was (or is being) rolled
# back: the rollback step (17) is where the process offers a root cause analysis.
ROLLED_BACK_STATES = ("rolling_back", "rolled_back")
# Announced (``releasemgmt.events``) when a problem record is opened for a
# rolled-back release, with the release as ``extra["release"]``.
PROBLEM_OPENED = "problem_opened"
PROBLEM_EDITABLE_FIELDS = {"title", "description", "root_cause", "corrective_actions"}


def release_rolled_back(release) -> bool:
    """Whether the release failed and was rolled back: it is rolling back or
    rolled back, or it was closed after its rollback."""
    if release.state in ROLLED_BACK_STATES:
        return True
    if release.state != "closed":
        return False
    return _release_logs(release).filter(name=name_of(type(release).complete_rollback)).exists()


def _release_logs(release):
    # By the release's app and model name (a join), as the log rows name it.
    return log_model().objects.filter(content_type__app_label=release._meta.app_label,
                                      content_type__model=release._meta.model_name, object_id=release.pk)


def problem_offered(release, user) -> bool:
    """Whether the release page offers this user to open a problem record."""
    return has_any_role(user, PROBLEM_ROLES) and release_rolled_back(release)


def _at(value) -> str:
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if value else "(no date)"


def release_timeline(release) -> str:
    """The release's history as plain text, oldest first: every transition
    (who, when, from, to, reason) and the records a failure analysis starts
    from (deployment, health checks, evaluation, review, rollback advice and
    plan, backup)."""
    lines = []
    # In the words the release page uses: the transitions' titles, the states' labels.
    titles = {name: spec.title for name, spec in specs(release_model()).items()}
    states = dict(release_model()._meta.get_field("state").flatchoices)
    for log in _release_logs(release).select_related("by").order_by("at", "id"):
        line = (f"{titles.get(log.name, log.name)}: {states.get(log.source, log.source)} → "
                f"{states.get(log.target, log.target)}, by {user_label(log.by)}")
        if log.reason:
            line += f" (reason: {log.reason})"
        lines.append((log.at, log.pk, line))
    for d in release.deployments.select_related("created_by"):
        lines.append((d.started_at, 0, f"Deployment started by {user_label(d.created_by)}"
                                         + (f"; freeze override: {d.freeze_override_reason}"
                                            if d.freeze_override_reason else "")))
        if d.completed_at:
            lines.append((d.completed_at, 0, "Deployment completed"))
    records = (
        ("backups", lambda r: f"Backup of {r.what} at {r.location} ({'verified' if r.verified else 'not verified'})"),
        ("health_checks", lambda r: f"Health check {'passed' if r.passed else 'FAILED'}: {r.details}"),
        ("evaluations", lambda r: f"Change evaluation ({'meets' if r.meets_objectives else 'does not meet'} "
                                  f"objectives): {r.summary}"),
        ("reviews", lambda r: f"PIR, outcome {r.outcome}: {r.findings}"),
        ("rollback_advice", lambda r: f"Rollback advised: {r.advice}"),
        ("rollback_plans", lambda r: f"Rollback plan ({r.get_verification_display().lower()}): {r.content}"),
    )
    for related, text in records:
        for r in getattr(release, related).select_related("created_by"):
            lines.append((r.created_at, r.pk, f"{text(r).strip()} — by {user_label(r.created_by)}"))
    lines.sort(key=lambda e: (e[0], e[1]))
    return "\n".join(f"{_at(at)}  {line}" for at, _, line in lines)


def _release_subject(kwargs):
    return release_model(), kwargs["release_id"]


def _problem_subject(kwargs):
    return Problem, kwargs["problem_id"]


@logs_refusals(subject=_release_subject)
@transaction.atomic
def problem_create_from_release(*, release_id, by, title: str = "", description: str = "") -> Problem:
    """Open the problem record for root cause analysis of a rolled-back
    release (step 17), pre-filled with the release's RFCs and timeline. One
    per release: a second attempt is refused (409) and names the first. While
    the rollback step is open the release also gets a problem reference
    record, so its page and the API show where the analysis lives."""
    release = release_model().objects.select_for_update().get(pk=release_id)
    problem_open_check(by=by)
    if not release_rolled_back(release):
        message = f"{release.number} was not rolled back; problem records are for failed releases."
        raise InvalidState("open_problem", message, [Blocker("not_rolled_back", message)])
    existing = Problem.objects.filter(release=release).first()
    if existing is not None:
        message = f"{existing.number} is already the problem record of {release.number}."
        raise Duplicate("open_problem", message, [Blocker("problem_exists", message)])
    problem = Problem(release=release, created_by=by, title=title.strip() or f"Rollback of {release}"[:200],
                      description=description, timeline=release_timeline(release))
    problem.full_clean(exclude=["state", "rfcs"])
    problem._history_user = by
    problem._change_reason = "create"
    problem.save()
    problem.rfcs.set(release.rfcs.all())
    # The release process keeps its reference to the problem record (a
    # listener of its own, in this transaction): this app does not write it.
    events.announce(problem, PROBLEM_OPENED, by=by, release=release)
    return problem


@logs_refusals(subject=_problem_subject)
@transaction.atomic
def problem_update(*, problem_id, by, **fields) -> Problem:
    """Record the analysis: root cause, corrective actions, a better title."""
    problem = Problem.objects.select_for_update().get(pk=problem_id)
    problem_update_check(problem=problem, by=by)
    if problem.state == Problem.State.CLOSED:
        raise InvalidState("update", "A closed problem record is kept as it is.",
                           [Blocker("step_closed", "The problem record is closed.")])
    unknown = set(fields) - PROBLEM_EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be edited." for name in sorted(unknown)})
    for key, value in fields.items():
        setattr(problem, key, value)
    problem.full_clean(exclude=["state", "rfcs"])
    problem._history_user = by
    problem._change_reason = "update"
    problem.save()
    return problem


@logs_refusals(subject=_problem_subject)
@signing.counts_failures
def problem_transition(*, problem_id, name: str, by, signature=None, **payload) -> Problem:
    with transaction.atomic():
        return run_transition(Problem, problem_id, name, by=by, payload=payload, signature=signature)
