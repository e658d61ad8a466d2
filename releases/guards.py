"""Named guards of the release process.

Each guard yields blockers (a stable code and a sentence a release manager
understands) and yields nothing when it is met. Guards declared with
``context=True`` also look at the acting user or the request's payload.
"""
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from releasemgmt.workflow import Blocker, guard, has_any_role

from .choices import (
    CommunicationKind,
    DeploymentOutcome,
    PirOutcome,
    ReleaseType,
    RollbackVerification,
    TaskState,
    TestOutcome,
    TrainingStatus,
    VoteDecision,
)
from .conflicts import dependency_cycle, window_conflicts

CLOSED_RFC_STATES = {"rejected", "cancelled", "closed"}


# --- step 2: planning and the CAB ---------------------------------------------


@guard
def has_rfcs(release, ctx):
    rfcs = list(release.rfcs.all())
    if not rfcs:
        yield Blocker("no_rfcs", "The release is not linked to any RFC.")
    for rfc in rfcs:
        if rfc.state in CLOSED_RFC_STATES:
            yield Blocker("rfc_not_open", f"{rfc.number} is {rfc.get_state_display().lower()}.", **_row(rfc))


@guard
def plan_complete(release, ctx):
    plan = release.current_plan
    if plan is None:
        yield Blocker("plan_missing", "No release plan has been written yet.")
        return
    if not (release.planned_start and release.planned_end):
        yield Blocker("plan_incomplete", "The release has no planned start and end.")
    elif release.planned_end <= release.planned_start:
        yield Blocker("plan_incomplete", "The planned end is not after the planned start.")
    if not plan.scope.strip():
        yield Blocker("plan_incomplete", "The release plan does not describe the scope.", **_row(plan))
    if not (plan.deployment_start and plan.deployment_end):
        yield Blocker("plan_incomplete", "The release plan has no deployment window.", **_row(plan))
    elif plan.deployment_end <= plan.deployment_start:
        yield Blocker("plan_incomplete", "The deployment window ends before it starts.", **_row(plan))
    elif release.planned_start and release.planned_end and not (
        release.planned_start <= plan.deployment_start and plan.deployment_end <= release.planned_end
    ):
        yield Blocker("plan_incomplete", "The deployment window is not inside the planned window.", **_row(plan))
    if not plan.deployment_approach.strip():
        yield Blocker("plan_incomplete", "The release plan has no deployment approach.", **_row(plan))
    if not plan.risks.strip():
        yield Blocker("plan_incomplete", "The release plan does not assess the risks.", **_row(plan))
    if not plan.teams.strip():
        yield Blocker("plan_incomplete", "The release plan does not name the teams involved.", **_row(plan))


def cab_quorum(release) -> int:
    return 1 if release.release_type == ReleaseType.EMERGENCY else settings.RELEASE_CAB_QUORUM


@guard
def cab_quorum_reached(release, ctx):
    """The CAB's approve votes reach the quorum, or a standing approval (a
    standard change) approves the plan instead of them: it stands in for the
    votes not cast, never against a reject vote."""
    blockers = list(_cab_votes(release))
    if blockers and all(b.code == "quorum_not_reached" for b in blockers) and standing_approval(release):
        return
    yield from blockers


def plan_approved_by_votes(release) -> bool:
    """Whether the CAB's votes alone approve the plan (no standard change needed)."""
    return not any(_cab_votes(release))


def _cab_votes(release):
    plan = release.current_plan
    votes = list(plan.votes.all()) if plan else []
    conflicted = release.conflicted_user_ids()
    approvals = [v for v in votes if v.decision == VoteDecision.APPROVE and v.created_by_id not in conflicted]
    quorum = cab_quorum(release)
    if len(approvals) < quorum:
        who = "ECAB vote" if release.release_type == ReleaseType.EMERGENCY else "CAB approve votes"
        yield Blocker(
            "quorum_not_reached",
            f"The plan has {len(approvals)} of the {quorum} {who} it needs on version {plan.version if plan else 0}.",
        )
    if any(v.decision == VoteDecision.REJECT for v in votes):
        yield Blocker("open_reject_vote", "A CAB member has voted to reject this version of the plan.")


def standing_approval(release):
    """The standard change that approves this release's plan, if one does
    (``StandardChangeQuerySet.covering``): read only for a release raised from
    a template."""
    if release.template_id is None:
        return None
    from django.apps import apps  # the model is declared beside the release, which imports the guards

    return apps.get_model("releases", "StandardChange").objects.covering(release)


@guard
def rfcs_authorized(release, ctx):
    for rfc in release.rfcs.all():
        if rfc.state not in ("authorized", "scheduled"):
            yield Blocker("rfc_not_authorized", f"{rfc.number} has not been authorised by Change Management.",
                          **_row(rfc))


@guard(context=True)
def not_conflicted(release, ctx):
    """Segregation of duties: nobody approves their own release or RFC (one
    they requested, or raised in the requester's name)."""
    if ctx.by is not None and ctx.by.pk in release.conflicted_user_ids():
        yield Blocker(
            "segregation_of_duties",
            "You manage this release or requested (or raised) one of its RFCs, so you may not decide on it.",
        )


@guard(context=True)
def not_release_manager(release, ctx):
    """Segregation of duties at Go/No-Go: the decider is not the release
    manager, nor someone who proposed one of its RFCs (an approval of one's
    own change, like a CAB vote on it)."""
    if ctx.by is None:
        return
    if ctx.by.pk == release.release_manager_id:
        yield Blocker("segregation_of_duties", "The Go/No-Go decision cannot be taken by the release manager.")
    elif ctx.by.pk in release.conflicted_user_ids():
        yield Blocker("segregation_of_duties", "You requested (or raised) one of this release's RFCs, so the "
                                               "Go/No-Go decision is not yours to take.")


# --- step 3: activities and calendar ---------------------------------------------


def _row(record) -> dict:
    """A blocker about one step record or RFC names it, so the page's "fix →"
    opens that record (not its table); read by someone who may not see it,
    the blocker says so instead (``Blocker.about``)."""
    if record is None:
        return {}
    return {"about": (record._meta.label, record.pk),
            "unseen": f"A {record._meta.verbose_name} you may not see stands in the way."}


def _task(task) -> tuple[str, int]:
    """A blocker naming ``task`` says so (``Blocker.about``): a vendor's user
    reads another vendor's task as "a task you may not see", never its title."""
    return ("releases.Task", task.pk)


@guard
def tasks_assigned(release, ctx):
    tasks = [t for t in release.tasks.all() if t.state != TaskState.CANCELLED]
    if not tasks:
        yield Blocker("no_tasks", "No release activities have been planned.")
    for task in tasks:
        if not task.has_assignee:
            yield Blocker("task_unassigned", f"Task '{task.title}' has no assignee (user, team or vendor).",
                          about=_task(task), unseen="A task you may not see has no assignee (user, team or vendor).")
        if not (task.planned_start and task.planned_end):
            yield Blocker("task_undated", f"Task '{task.title}' has no planned start and end.",
                          about=_task(task), unseen="A task you may not see has no planned start and end.")
        elif release.planned_start and release.planned_end and not (
            release.planned_start <= task.planned_start <= task.planned_end <= release.planned_end
        ):
            yield Blocker("task_outside_window", f"Task '{task.title}' is planned outside the release window.",
                          about=_task(task), unseen="A task you may not see is planned outside the release window.")


# --- steps 4 and 5: packaging and build ---------------------------------------------


@guard
def scope_defined(release, ctx):
    items = list(release.scope_items.all())
    if not items:
        yield Blocker("scope_undefined", "No configuration items are in the release scope.")
    for item in items:
        if not item.target_version.strip():
            yield Blocker("target_version_missing", f"{item.ci.name} has no target version.", **_row(item))


def _tasks_of_step_done(release, step):
    for task in release.tasks.all():
        if task.step == step and task.state not in (TaskState.DONE, TaskState.CANCELLED):
            yield task


@guard
def packaging_done(release, ctx):
    for task in _tasks_of_step_done(release, 4):
        yield Blocker("packaging_not_done", f"Packaging task '{task.title}' is not done.",
                      about=_task(task), unseen="A packaging task you may not see is not done.")


@guard
def dependency_order_acyclic(release, ctx):
    cycle = dependency_cycle(release)
    if cycle:
        yield Blocker("dependency_cycle", "The components depend on each other in a cycle: " + " → ".join(cycle) + ".")


@guard
def build_complete(release, ctx):
    doc = release.build_document
    if doc is None:
        yield Blocker("build_document_missing", "The build document has not been written.")
    else:
        for label in doc.missing_parts():
            yield Blocker("build_document_incomplete", f"The build document lacks {label}.", **_row(doc))
    check = release.latest("security_checks")
    if check is None or not check.passed:
        yield Blocker("security_check", "The security requirements have not been checked and passed.", **_row(check))
    prereqs = list(release.prerequisite_checks.all())
    if not prereqs:
        yield Blocker("prerequisites_unverified", "No prerequisites have been recorded and verified.")
    for p in prereqs:
        if not p.verified:
            yield Blocker("prerequisites_unverified", f"Prerequisite '{p.description}' is not verified.", **_row(p))
    if release.pre_release_baseline is None:
        yield Blocker("baseline_missing", "No pre-release configuration baseline has been captured.")


# --- steps 6 and 7: testing --------------------------------------------------------


def _mandatory_outcomes(release):
    for case in release.test_cases.all():
        if case.mandatory:
            yield case, case.latest_outcome


@guard
def mandatory_tests_passed(release, ctx):
    cases = list(_mandatory_outcomes(release))
    if not cases:
        yield Blocker("no_mandatory_tests", "No mandatory test cases have been defined.")
    for case, outcome in cases:
        if outcome == TestOutcome.PASSED:
            continue
        if release.release_type == ReleaseType.EMERGENCY and case.deferred and outcome != TestOutcome.FAILED:
            if not case.deferral_justification.strip():
                yield Blocker("deferral_unjustified", f"Deferred test '{case.name}' has no justification.",
                              **_row(case))
            continue
        if outcome is None:
            yield Blocker("test_not_run", f"Mandatory test '{case.name}' has not been run.", **_row(case))
        else:
            yield Blocker("test_not_passed", f"Mandatory test '{case.name}' {outcome}.", **_row(case))


@guard
def a_mandatory_test_failed(release, ctx):
    if not any(outcome == TestOutcome.FAILED for _, outcome in _mandatory_outcomes(release)):
        yield Blocker("no_failed_test", "No mandatory test has failed, so there is nothing to send back to build.")


# --- steps 8 and 9: plans, preparation --------------------------------------------------


@guard
def plans_revised(release, ctx):
    plan = release.current_plan
    if plan is None or plan.created_in_state != "tests_passed":
        yield Blocker("plan_not_revised", "The release plan has not been revised after testing.", **_row(plan))
    rollback = release.rollback_plan
    if rollback is None or not rollback.content.strip():
        yield Blocker("rollback_plan_missing", "There is no rollback plan.", **_row(rollback))
    elif rollback.verification == RollbackVerification.NONE:
        yield Blocker("rollback_plan_unverified", "The rollback plan has not been tested or verified.",
                      **_row(rollback))
    checks = list(release.pre_implementation_checks.all())
    if not checks:
        yield Blocker("pre_implementation_checks", "No pre-implementation checks have been recorded.")
    for c in checks:
        if not c.passed:
            yield Blocker("pre_implementation_checks", f"Pre-implementation check '{c.description}' has not passed.",
                          **_row(c))


@guard
def prepared(release, ctx):
    envs = list(release.environment_readiness.all())
    if not envs:
        yield Blocker("environments_not_ready", "No target environment has been confirmed ready.")
    for env in envs:
        if not env.ready:
            yield Blocker("environments_not_ready", f"Environment '{env.environment}' is not ready.", **_row(env))
    if not release.acceptance_criteria.strip():
        yield Blocker("acceptance_criteria_missing", "The acceptance criteria are not documented on the ticket.")
    if not _communicated(release, CommunicationKind.STAKEHOLDER_NOTICE):
        yield Blocker("stakeholders_not_told", "No communication has been sent to the stakeholders.")


def _communicated(release, kind) -> bool:
    """A communication of ``kind`` is made once its messages are in the
    outbox (written with it by ``services.record_add``), whatever becomes of
    their delivery: a date typed by hand counts for nothing."""
    return any(c.kind == kind and c.messages.all() for c in release.communications.all())


# --- step 10: Go/No-Go ----------------------------------------------------------


def go_roles(release):
    if release.release_type == ReleaseType.MAJOR:
        return ("change_manager", "cab_member")
    return ("delivery_manager",)


@guard
def ready_for_go(release, ctx):
    if release.latest("readiness_assessments") is None:
        yield Blocker("readiness_not_assessed", "The deployment readiness (risks and issues) has not been assessed.")
    if release.release_type == ReleaseType.MAJOR:
        training = release.latest("training_plans")
        if training is None:
            yield Blocker("training_missing", "A major release needs a training plan.")
        elif training.status != TrainingStatus.DONE:
            yield Blocker("training_not_done", "The training for this major release is not done.", **_row(training))


# --- steps 11 and 12: backup and deployment -------------------------------------------


@guard
def backup_recorded(release, ctx):
    backup = release.latest("backups")
    if backup is None:
        yield Blocker("backup_missing", "No backup of the current release has been recorded.")
    elif not backup.verified:
        yield Blocker("backup_unverified", "The backup has not been verified.", **_row(backup))


@guard
def inside_window(release, ctx):
    now = timezone.now()
    if not (release.planned_start and release.planned_end and release.planned_start <= now <= release.planned_end):
        yield Blocker("outside_window", "It is not within the release's planned window.")


def _window_clear(release, ctx, start, end):
    """No freeze window and no other release touching the same CIs (or CIs
    depending on them) in [start, end]. An emergency release may go ahead with
    a recorded reason."""
    if not (start and end):
        return
    freezes, others = window_conflicts(release, start, end)
    if not (freezes or others):
        return
    override = str(ctx.payload.get("freeze_override_reason") or "").strip()
    if release.release_type == ReleaseType.EMERGENCY and override:
        return
    # An emergency release is told how it may go ahead: an integration
    # reads the override from the blocker, as a user reads it on the page.
    override_hint = (" An emergency release may go ahead inside it with a freeze override reason."
                     if release.release_type == ReleaseType.EMERGENCY else "")
    for f, cis in freezes:
        scope = f" on {', '.join(cis)}" if cis else " (global)"
        yield Blocker("freeze_window", f"Freeze window '{f.name}'{scope} runs from {f.start:%Y-%m-%d %H:%M} "
                                       f"to {f.end:%Y-%m-%d %H:%M} UTC.{override_hint}")
    for other, cis in others:
        yield Blocker("release_conflict", f"{other.number} {other.title} also changes {', '.join(cis)} in the same "
                                          f"window.", about=("releases.Release", other.pk),
                      unseen="Another release changes the same configuration items in the same window.")


@guard(context=True)
def schedule_window_clear(release, ctx):
    plan = release.current_plan
    if plan is not None:
        yield from _window_clear(release, ctx, plan.deployment_start, plan.deployment_end)


@guard(context=True)
def no_freeze(release, ctx):
    now = timezone.now()
    plan = release.current_plan
    end = max(now + timedelta(minutes=1), plan.deployment_end) if plan and plan.deployment_end else \
        now + timedelta(minutes=1)
    yield from _window_clear(release, ctx, now, end)


@guard
def downtime_broadcast(release, ctx):
    plan = release.current_plan
    if plan and plan.downtime_expected:
        if not _communicated(release, CommunicationKind.DOWNTIME_BROADCAST):
            yield Blocker("downtime_not_broadcast", "Downtime is expected but has not been broadcast in advance.")


@guard
def deployment_tasks_done(release, ctx):
    for task in _tasks_of_step_done(release, 12):
        yield Blocker("deployment_tasks_open", f"Deployment task '{task.title}' is not done.",
                      about=_task(task), unseen="A deployment task you may not see is not done.")


@guard
def deployment_not_failed(release, ctx):
    """A deployment reported failed is not completed: the release goes to
    rollback (step 17) on a delivery or change manager's advice, so it never
    reaches the health check."""
    deployment = release.latest("deployments")
    if deployment is not None and deployment.outcome == DeploymentOutcome.FAILED:
        when = f" at {deployment.failed_at:%Y-%m-%d %H:%M} UTC" if deployment.failed_at else ""
        log = f" (log: {deployment.log_url})" if deployment.log_url else ""
        yield Blocker("deployment_failed", f"The deployment failed{when}{log}; it is rolled back on the advice "
                                           "of a delivery manager or change manager, not completed.",
                      **_row(deployment))


# --- steps 13 to 16 -------------------------------------------------------------------


@guard
def health_check_passed(release, ctx):
    check = release.latest("health_checks")
    if check is None:
        yield Blocker("health_check_missing", "No health check has been recorded.")
    elif not check.passed:
        yield Blocker("health_check_failed", "The latest health check did not pass.", **_row(check))


@guard
def evaluation_recorded(release, ctx):
    if release.latest("evaluations") is None:
        yield Blocker("evaluation_missing", "The change evaluation has not been recorded.")


@guard
def pir_success(release, ctx):
    pir = release.latest("reviews")
    if pir is None:
        yield Blocker("pir_missing", "The post-implementation review has not been recorded.")
    elif pir.outcome != PirOutcome.SUCCESS:
        yield Blocker("pir_not_success", "The post-implementation review did not conclude that the change succeeded.",
                      **_row(pir))


# --- step 17: rollback --------------------------------------------------------------


@guard
def rollback_ready(release, ctx):
    advisers = [a for a in release.rollback_advice.all() if has_any_role(a.advised_by, ("delivery_manager", "change_manager"))]
    if not advisers:
        yield Blocker("rollback_not_advised", "No delivery manager or change manager has advised the rollback.")
    rollback = release.rollback_plan
    if rollback is None or rollback.verification == RollbackVerification.NONE:
        yield Blocker("rollback_plan_unverified", "The rollback plan has not been tested or verified.",
                      **_row(rollback))
    if release.pre_release_baseline is None:
        yield Blocker("baseline_missing", "There is no pre-release baseline to restore.")


@guard
def baseline_to_restore(release, ctx):
    if release.pre_release_baseline is None:
        yield Blocker("baseline_missing", "There is no pre-release baseline to restore.")


# --- steps 19 and 20: closure ---------------------------------------------------------


@guard
def closable(release, ctx):
    commented = {c.rfc_id for c in release.closure_comments.all() if c.comment.strip()}
    for rfc in release.rfcs.all():
        if rfc.pk not in commented:
            yield Blocker("closure_comment_missing", f"{rfc.number} has no closure comment.")
    for task in release.tasks.all():
        if task.state not in (TaskState.DONE, TaskState.CANCELLED):
            yield Blocker("tasks_open", f"Task '{task.title}' is neither done nor cancelled.",
                          about=_task(task), unseen="A task you may not see is neither done nor cancelled.")
