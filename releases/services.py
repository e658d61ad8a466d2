"""Release use cases: the only code that writes releases, tasks and step records.

Every state change goes through ``releasemgmt.workflow.run_transition`` (lock,
role, guards, transition, history, log, the step's declared effects, the
announcement): what a step does is declared on its transition
(``releases.models.release``), not here.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from changes.models import ChangeRequest
from cmdb.choices import BaselineKind
from cmdb.services import baseline_capture
from releasemgmt import events, signing
from releasemgmt.errors import Duplicate, InvalidState, MethodRefused, SegregationOfDuties
from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import (
    Blocker,
    TransitionBlocked,
    TransitionForbidden,
    has_any_role,
    may_act,
    name_of,
    roles_text,
    run_transition,
    specs,
    user_roles,
)

from . import standard_changes
from .audience import Audience
from .choices import VoteDecision
from .models import (
    RECORD_TYPES,
    CabVote,
    Communication,
    Release,
    ReleasePlan,
    ReleaseScopeItem,
    Task,
)

RM = ("release_manager",)
BASELINE_WRITERS = ("configuration_manager", "release_manager")
# The release states in which its pre-release baseline (the restore point) is captured.
BASELINE_STATES = ("packaging", "building")
OUTBOX_RETRIERS = ("release_manager", "change_manager")
EDITABLE_RELEASE_STATES = ("new", "planning", "plan_submitted", "plan_approved", "scheduled")  # scope
# What an assignee who is not a release manager may change on a task, and
# what a release manager may.
TASK_ASSIGNEE_FIELDS = {"vendor_ticket_ref", "description"}
TASK_PLANNER_FIELDS = TASK_ASSIGNEE_FIELDS | {"title", "step", "assignee_user", "assignee_team", "assignee_vendor",
                                              "planned_start", "planned_end"}


class RecordRefused(TransitionForbidden):
    """A step record written by someone who may not, or after its step."""


class RecordClosed(InvalidState):
    """A step record, a field or a finished object written outside the step
    that takes it: the state forbids it (409 ``invalid_state``)."""


# --- releases -------------------------------------------------------------------


def _release_subject(kwargs):
    return Release, kwargs["release_id"]


def _task_subject(kwargs):
    return Task, kwargs["task_id"]


def _record_subject(kwargs):
    return Release, kwargs["record"].release_id


def _release_of(kwargs):
    """The release a check is asked about, if it is known yet (an admin add
    form asks before the release is chosen)."""
    release = kwargs.get("release")
    return (Release, release.pk) if release is not None else None


# --- who may: the checks each use case makes under its lock --------------------------------
#
# An entry point that must answer 403 before it reads a request (the API's
# order: 404, 403/409, 412, then 400) or before it shows a form for writing
# asks the same function first; either way a refusal is kept
# (releasemgmt.refusals), and ``refusals.permits`` asks without keeping
# anything, for what a page offers.


@logs_refusals()
def release_create_check(*, by) -> None:
    if not has_any_role(by, RM):
        raise TransitionForbidden("create", "Only a release manager may raise a release ticket.")


@logs_refusals(subject=_release_of)
def release_update_check(*, release, by) -> None:
    if not has_any_role(by, RM):
        raise TransitionForbidden("update", "Only a release manager may edit the release ticket.")


@logs_refusals(subject=_release_of)
def scope_check(*, release=None, by) -> None:
    if not has_any_role(by, RM):
        raise RecordRefused("scope", "Only a release manager may change the release scope.")


@logs_refusals(subject=_release_of)
def release_baseline_check(*, release, by) -> None:
    if not has_any_role(by, BASELINE_WRITERS):
        raise TransitionForbidden("capture_baseline",
                                  "Only a configuration manager or release manager may capture the baseline.")


@logs_refusals()
def task_create_check(*, by) -> None:
    if not has_any_role(by, RM):
        raise RecordRefused("create", "Only a release manager may plan release activities.")


@logs_refusals(subject=lambda kw: (Task, kw["task"].pk))
def task_update_check(*, task, by, fields=(), replace: bool = False) -> None:
    """The release managers plan a task; whoever it is assigned to (a vendor,
    say) reports progress on it (``TASK_ASSIGNEE_FIELDS``) but does not
    re-plan the work. ``fields`` are those the write would change, or a
    function returning them, called only when they matter (the API reads a
    request's body only once the user is known to act on the task);
    ``replace``: the write sets every field at once."""
    from .models.task import task_actor

    if not task_actor(task, by):
        raise RecordRefused("update", "Only the release manager or the task's assignee may edit it.")
    if "release_manager" in user_roles(by):
        return
    only = " and ".join(sorted(TASK_ASSIGNEE_FIELDS))
    if replace:
        raise RecordRefused("update", f"As the task's assignee you may change only {only}; send them with PATCH.")
    refused = sorted(set(fields() if callable(fields) else fields) - TASK_ASSIGNEE_FIELDS)
    if refused:
        raise RecordRefused("update", f"As the task's assignee you may change only {only}; not {', '.join(refused)}.")


@logs_refusals(subject=_release_of)
def record_writer_check(*, model, release=None, by) -> None:
    """Whether ``by`` writes records of this kind at all (its step aside)."""
    name = model._meta.verbose_name
    if not model.writers:
        raise RecordRefused("record", f"A {name} is written by its step's transition, not by hand.")
    if not has_any_role(by, model.writers):
        raise RecordRefused("record", f"Only {roles_text(model.writers)} may write a {name}.")


def record_writable(model) -> bool:
    """Whether records of this kind are written by hand at all: some are
    written only by their step's transition (``writers`` empty), and the API
    offers no write for them."""
    return bool(model.writers)


def record_editable(model) -> bool:
    """Whether a record of this kind may be edited once written: evidence
    (``immutable``) and signed records stay as they were written."""
    return record_writable(model) and not model.immutable and not model.signed


def record_method_check(*, model, edit: bool) -> None:
    """The answer to a write this kind of record never takes (405): one by
    hand of a record its step's transition writes (``read_only``), or an
    edit of evidence (``immutable``). Nobody may, so no refusal is kept."""
    name = model._meta.verbose_name
    if not record_writable(model):
        raise MethodRefused("record", f"A {name} is written by its step's transition, not by hand.",
                            [Blocker("read_only", f"A {name} is written by its step's transition.")],
                            code="read_only")
    if edit and not record_editable(model):
        raise MethodRefused("edit", f"A {name} is kept as written; add a new one instead.",
                            [Blocker("immutable", "This record cannot be edited.")])


@logs_refusals(subject=_release_of)
def record_access_check(*, model, release, by) -> None:
    """Who may write a record of this kind (403), and whether its step is
    open (409 ``invalid_state``, blocker ``step_closed``)."""
    record_writer_check(model=model, release=release, by=by)
    name = model._meta.verbose_name
    if release.state not in model.open_states:
        raise RecordClosed(
            "record", f"A {name} cannot be written while the release is {release.get_state_display().lower()}.",
            [Blocker("step_closed", f"The step for the {name} is not open.")],
        )


@logs_refusals()
def outbox_retry_check(*, by) -> None:
    if not has_any_role(by, OUTBOX_RETRIERS):
        raise RecordRefused("retry_delivery", "Only a release manager or change manager may retry deliveries.")


# --- releases -------------------------------------------------------------------


@logs_refusals()
@transaction.atomic
def release_create(*, by, title: str, release_type: str, rfcs, description: str = "", planned_start=None,
                   planned_end=None, release_manager=None, acceptance_criteria: str = "") -> Release:
    """Raise a release ticket tagged to the RFCs that triggered it (step 1)."""
    release_create_check(by=by)
    rfcs = _checked_rfcs(rfcs)
    if release_manager is not None and not has_any_role(release_manager, RM):
        raise ValidationError({"release_manager": "The release manager must hold the release manager role."})
    release = Release(title=title, description=description, release_type=release_type,
                      release_manager=release_manager or by, planned_start=planned_start, planned_end=planned_end,
                      acceptance_criteria=acceptance_criteria)
    release.full_clean(exclude=["rfcs", "state"])
    release._history_user = by
    release._change_reason = "create"
    release.save()
    release.rfcs.set(rfcs)
    return release


def _checked_rfcs(rfcs) -> list:
    """The RFCs a release is tagged to: at least one, and only RFCs still on
    their way (states read afresh)."""
    rfcs = list(rfcs)
    if not rfcs:
        raise ValidationError({"rfcs": "A release must be tagged to at least one RFC."})
    done = ChangeRequest.objects.filter(pk__in=[r.pk for r in rfcs],
                                        state__in=("rejected", "cancelled", "closed", "failed"))
    if closed := sorted(r.number for r in done):
        raise ValidationError({"rfcs": f"These RFCs can no longer be released: {', '.join(closed)}."})
    return rfcs


# Which ticket fields may change in which states. The type and the RFCs are
# what the CAB decides on, so they are fixed once the plan is submitted; the
# window can move (a reschedule) until packaging starts, but not while the
# CAB is voting on it. State, manager and approved plan change only through
# transitions.
RELEASE_FIELD_STATES = {
    "title": None,
    "description": None,
    "acceptance_criteria": None,
    "release_type": ("new", "planning"),
    "rfcs": ("new", "planning"),
    "planned_start": ("new", "planning", "plan_approved", "scheduled"),
    "planned_end": ("new", "planning", "plan_approved", "scheduled"),
}


@logs_refusals(subject=_release_subject)
@transaction.atomic
def release_update(*, release_id, by, **fields) -> Release:
    """Edit the ticket's own fields (not its state) while they are still open."""
    release = Release.objects.select_for_update().get(pk=release_id)
    release_update_check(release=release, by=by)
    unknown = set(fields) - set(RELEASE_FIELD_STATES)
    if unknown:
        raise ValidationError({name: "This field cannot be edited; it changes only through the process."
                               for name in sorted(unknown)})
    if release.state in ("closed", "cancelled"):
        raise RecordClosed("update", "A closed or cancelled release cannot be edited.",
                           [Blocker("step_closed", "The release is finished.")])
    closed = [name for name in fields
              if RELEASE_FIELD_STATES[name] is not None and release.state not in RELEASE_FIELD_STATES[name]]
    if closed:
        raise RecordClosed(
            "update", f"{', '.join(sorted(closed))} cannot change while the release is "
                      f"{release.get_state_display().lower()}.",
            [Blocker("step_closed", f"'{name}' is fixed at this step.") for name in sorted(closed)])
    rfcs = fields.pop("rfcs", None)
    if rfcs is not None:
        rfcs = _checked_rfcs(rfcs)
    old_window = (release.planned_start, release.planned_end)
    for key, value in fields.items():
        setattr(release, key, value)
    rescheduled = (release.planned_start, release.planned_end) != old_window
    if rescheduled:
        release.calendar_sequence += 1
    release.full_clean(exclude=["rfcs", "state"])
    release._history_user = by
    release._change_reason = "update"
    release.save()
    if rfcs is not None:
        release.rfcs.set(rfcs)
    if rescheduled and release.state == "scheduled":
        # The calendar was published at `schedule`: subscribers get the update.
        events.announce(release, "reschedule", by=by,
                        occurrence=f"reschedule-{release.pk}-{release.calendar_sequence}")
    return release


@logs_refusals(subject=_release_subject)
@signing.counts_failures
def release_transition(*, release_id, name: str, by, signature=None, **payload) -> Release:
    """Perform one step of the release process; a signed decision (CAB
    approval or rejection, Go, No-Go, rollback) with the signer's credential
    (``releasemgmt.signing``)."""
    with transaction.atomic():
        release = run_transition(Release, release_id, name, by=by, payload=payload, signature=signature)
        if name == name_of(Release.submit_plan) and release.template_id is not None:
            # A standard change's plan is approved by its standing approval, not the CAB.
            release = standard_changes.approve_plan_as_standard(release_id) or release
        return release


# Announced when a deployment is reported failed: the delivery and change
# managers are asked for their advice on a rollback (step 17).
DEPLOYMENT_FAILED = "deployment_failed"


@logs_refusals(subject=_release_subject)
@transaction.atomic
def deployment_fail(*, release_id, deployment_id, by, log_url: str = ""):
    """Record that the running deployment failed (step 12), as its deployer
    reports it: it is then never completed (guard ``deployment_not_failed``),
    so the release does not reach its health check, and the delivery and
    change managers are asked to advise on the rollback (step 17)."""
    from .choices import DeploymentOutcome

    release = _locked_release(release_id)
    spec = specs(Release)[name_of(Release.complete_deployment)]
    if not may_act(release, spec, by):
        raise TransitionForbidden("fail_deployment",
                                  f"Only {roles_text(spec.roles_for(release))} may report how the deployment ended.")
    deployment = release.deployments.select_for_update().get(pk=deployment_id)
    if release.state not in spec.sources or deployment.outcome or deployment.pk != release.latest("deployments").pk:
        message = "Only the running deployment of a release that is deploying can be reported failed."
        raise RecordClosed("fail_deployment", message, [Blocker("invalid_state", message)], code="invalid_state")
    deployment.outcome = DeploymentOutcome.FAILED
    deployment.failed_at = timezone.now()
    deployment.log_url = log_url or deployment.log_url
    deployment.full_clean()
    deployment._history_user = by
    deployment._change_reason = "failed"
    deployment.save()
    log = f" Its log: {deployment.log_url}" if deployment.log_url else ""
    events.announce(release, DEPLOYMENT_FAILED, by=by, payload={"log_url": deployment.log_url},
                    occurrence=f"deployment-failed-{deployment.pk}",
                    extra=f"The deployment failed and is not completed.{log} A delivery manager or change manager "
                          "advises on the rollback (step 17) on the release page.")
    return deployment


@logs_refusals(subject=_release_subject)
@signing.counts_failures
def cab_vote_and_approve(*, release_id, by, signature, comment: str = "") -> Release:
    """A CAB member's approving vote and, with it, the plan's approval: one
    signed action for the vote that reaches the quorum. Both go through
    their own service path (the vote as ``record_add`` writes it, the
    approval as ``approve_plan`` declares it: quorum, authorised RFCs,
    segregation of duties), each keeping its signature under the same
    credential; if the approval is refused the vote is not kept either."""
    with transaction.atomic():
        record_add(release_id=release_id, record_type="votes", by=by, signature=signature,
                   decision=VoteDecision.APPROVE, comment=comment)
        return release_transition(release_id=release_id, name=name_of(Release.approve_plan), by=by,
                                  signature=signature)


@logs_refusals(subject=_release_subject)
def release_capture_baseline(*, release_id, by):
    """Record the pre-release baseline of the scope: the restore point (step 5)."""
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release_id)
        release_baseline_check(release=release, by=by)
        if release.state not in BASELINE_STATES:
            raise RecordClosed("capture_baseline", "The pre-release baseline is captured during packaging or build.",
                               [Blocker("step_closed", f"The release is {release.get_state_display().lower()}.")])
        if release.pre_release_baseline is not None:
            raise Duplicate("capture_baseline", "The pre-release baseline has already been captured.",
                               [Blocker("baseline_exists", "The pre-release baseline has already been captured.")])
        scope = [item.ci for item in release.scope_items.select_related("ci")]
        if not scope:
            raise TransitionBlocked("capture_baseline", "The release scope is empty.",
                               [Blocker("scope_undefined", "No configuration items are in the release scope.")])
        return baseline_capture(cis=scope, kind=BaselineKind.PRE_RELEASE, release=release, by=by,
                                name=f"{release.number} pre-release")


# --- scope and tasks --------------------------------------------------------------


def _locked_release(release_id) -> Release:
    return Release.objects.select_for_update().get(pk=release_id)


@logs_refusals(subject=_release_subject)
@transaction.atomic
def scope_set(*, release_id, ci, target_version: str, by) -> ReleaseScopeItem:
    """Put a CI in the release scope with the version the release brings."""
    release = _locked_release(release_id)
    scope_check(release=release, by=by)
    if release.state not in EDITABLE_RELEASE_STATES:
        raise RecordClosed("scope", "The scope is fixed once packaging has started.",
                           [Blocker("step_closed", "The scope is fixed once packaging has started.")])
    if release.standard_change_id and not release.standard_change.cis.filter(pk=ci.pk).exists():
        message = f"The plan was approved as standard change {release.standard_change.number}, not for {ci.name}."
        raise TransitionBlocked("scope", message, [Blocker("outside_standard_change", message)])
    item, _ = ReleaseScopeItem.objects.get_or_create(release=release, ci=ci, defaults={"created_by": by})
    item.target_version = target_version
    item._history_user = by
    item.save()
    return item


# Announced when a task is given to someone (a person, a team or a vendor),
# at its creation or when its assignee changes: the tools subscribed to it
# hear of it (webhooks).
TASK_ASSIGNED = "task_assigned"


def _assignee(task) -> tuple:
    return task.assignee_user_id, task.assignee_team_id, task.assignee_vendor_id


TASK_EDITABLE = ("new", "planning", "plan_submitted", "plan_approved", "scheduled", "packaging", "building",
                 "built", "testing", "tests_passed", "plans_updated", "ready", "go", "backed_up", "deploying",
                 "deployed", "verified", "evaluated", "in_review", "succeeded", "rolling_back", "rolled_back")


@logs_refusals(subject=_release_subject)
@transaction.atomic
def task_create(*, release_id, by, title: str, step: int = 12, **fields) -> Task:
    """Plan a release activity and assign it (step 3)."""
    release = _locked_release(release_id)
    task_create_check(by=by)
    if release.state not in TASK_EDITABLE:
        raise RecordClosed("task", "A finished release takes no new activities.",
                           [Blocker("step_closed", "The release is finished.")])
    refused = set(fields) - TASK_PLANNER_FIELDS
    if refused:
        raise ValidationError({name: "This field cannot be set on a new task." for name in sorted(refused)})
    task = Task(release=release, title=title, step=step, **fields)
    task.full_clean(exclude=["state"])
    task._history_user = by
    task.save()
    if task.has_assignee:
        events.announce(task, TASK_ASSIGNED, by=by)
    return task


@logs_refusals(subject=_task_subject)
@transaction.atomic
def task_update(*, task_id, by, **fields) -> Task:
    task = Task.objects.select_for_update().select_related("release").get(pk=task_id)
    task_update_check(task=task, by=by, fields=fields)
    if task.state in ("done", "cancelled"):
        raise RecordClosed("task", "A finished task cannot be edited.",
                           [Blocker("step_closed", "The task is finished.")])
    refused = set(fields) - TASK_PLANNER_FIELDS
    if refused:
        # Nobody moves a task to another release or sets its state by hand.
        raise ValidationError({name: "You cannot change this field of a task." for name in sorted(refused)})
    old_dates = (task.planned_start, task.planned_end)
    old_assignee = _assignee(task)
    for key, value in fields.items():
        setattr(task, key, value)
    if (task.planned_start, task.planned_end) != old_dates:
        task.calendar_sequence += 1
    task.full_clean(exclude=["state"])
    task._history_user = by
    task.save()
    if task.has_assignee and _assignee(task) != old_assignee:
        events.announce(task, TASK_ASSIGNED, by=by)
    if (task.planned_start, task.planned_end) != old_dates and task.release.state not in (
            "new", "planning", "plan_submitted", "plan_approved", "closed", "cancelled"):
        events.announce(task.release, "reschedule", by=by, subject_obj=task,
                        occurrence=f"reschedule-task-{task.pk}-{task.calendar_sequence}")
    return task


@logs_refusals(subject=_task_subject)
@signing.counts_failures
def task_transition(*, task_id, name: str, by, signature=None, **payload) -> Task:
    with transaction.atomic():
        return run_transition(Task, task_id, name, by=by, payload=payload, signature=signature)


# --- step records ---------------------------------------------------------------------


@logs_refusals(subject=_release_subject)
@signing.counts_failures
@transaction.atomic
def record_add(*, release_id, record_type: str, by, signature=None, **data):
    """Write a step record while its step is open, as a role that may. A
    signed record (a CAB vote) needs its writer's credential, ``signature``
    (``releasemgmt.signing``), and keeps the signature beside it."""
    model = RECORD_TYPES[record_type]
    release = _locked_release(release_id)
    record_access_check(model=model, release=release, by=by)
    audience = Audience.of(data) if model is Communication else None
    _check_fields(model, data, record_type)
    record = model(release=release, created_by=by, **data)
    if model is ReleasePlan:
        last = release.latest("plans")
        record.version = (last.version + 1) if last else 1
        record.created_in_state = release.state
    elif model is CabVote:
        _check_vote(release, by, record)
    elif model is Communication:
        to = audience.recipients_or_refuse(release)
        record.audience, record.sent_at = audience.in_words(), timezone.now()
    _check_membership(record, release)
    record.full_clean()
    if model.signed:
        signed_with = signing.verify(by, signature, decision=record_type)
    record._history_user = by
    record.save()
    if model.signed:
        signing.record(by=by, method=signed_with, meaning=record.signature_meaning(),
                       content=record.signed_content(), decision=record)
    if model is Communication:
        audience.announce(record, to, by)
    return record


@logs_refusals(subject=_record_subject)
@transaction.atomic
def record_update(*, record, by, **data):
    """Edit a step record that is not evidence, while its step is open."""
    model = type(record)
    release = _locked_release(record.release_id)
    record_method_check(model=model, edit=True)  # a signed record stays as it was signed
    record_access_check(model=model, release=release, by=by)
    _check_fields(model, data, next(k for k, v in RECORD_TYPES.items() if v is model))
    record = model.objects.select_for_update().get(pk=record.pk)
    for key, value in data.items():
        setattr(record, key, value)
    _check_membership(record, release)
    record.full_clean()
    record._history_user = by
    record.save()
    return record


def _check_membership(record, release):
    """A record may only point at the test cases and RFCs of its own release."""
    if getattr(record, "test_case_id", None) and record.test_case.release_id != release.pk:
        raise ValidationError({"test_case": "This test case belongs to another release."})
    if getattr(record, "rfc_id", None) and not release.rfcs.filter(pk=record.rfc_id).exists():
        raise ValidationError({"rfc": "This RFC is not part of the release."})


# Fields of a record that its service sets, never its writer.
SERVICE_SET_FIELDS = {"id", "release", "created_by", "created_at", "updated_at"}
SERVICE_SET_BY_TYPE = {"plans": {"version", "created_in_state"}, "votes": {"plan"},
                       "communications": {"sent_at", "audience"}}


def _check_fields(model, data, record_type):
    writable = {f.name for f in model._meta.concrete_fields} - SERVICE_SET_FIELDS - \
        SERVICE_SET_BY_TYPE.get(record_type, set())
    unknown = set(data) - writable
    if unknown:
        raise ValidationError({name: f"A {model._meta.verbose_name} has no writable field '{name}'."
                               for name in sorted(unknown)})


def _check_vote(release, by, vote):
    plan = release.current_plan
    if plan is None:
        raise ValidationError({"plan": "There is no plan to vote on."})
    if by.pk in release.conflicted_user_ids():
        message = "You manage this release or requested (or raised) one of its RFCs, so you may not vote on it."
        raise SegregationOfDuties("vote", message, [Blocker("segregation_of_duties", message)])
    if CabVote.objects.filter(plan=plan, created_by=by).exists():
        raise Duplicate("vote", "You have already voted on this version of the plan.",
                           [Blocker("already_voted", "You have already voted on this version of the plan.")])
    vote.plan = plan


@logs_refusals()
@transaction.atomic
def outbox_retry(*, message_ids, by) -> int:
    """Give failed deliveries another round of attempts (after fixing an
    address or a vendor endpoint)."""
    from .models import OutboxMessage

    outbox_retry_check(by=by)
    count = 0
    for row in OutboxMessage.objects.select_for_update().filter(pk__in=message_ids, status="failed").order_by("pk"):
        row.status = "pending"
        row.attempts = 0
        row.next_attempt_at = None
        row._change_reason = "retry"
        row._history_user = by
        row.save()
        count += 1
    return count
