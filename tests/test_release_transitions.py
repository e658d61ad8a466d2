"""Every release transition of the contract (release-flow.md), three ways:

(a) allowed, with its guards met, by a role that may: the release moves, one
    TransitionLog row and one history row record it;
(b) refused for each unmet guard (``TransitionBlocked`` with the guard's
    blocker code), and nothing changes;
(c) refused for a role that may not (``TransitionForbidden``), and nothing
    changes.

The Walker (releases.scenario) brings a release to the source state through
the real services; each ``prep_<transition>`` then writes the records that
transition's guards read and says who acts and with which payload.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from changes.services import rfc_create, rfc_transition
from cmdb.models import ConfigurationItem
from releasemgmt.workflow import (
    TransitionBlocked,
    TransitionError,
    TransitionForbidden,
    TransitionNotFound,
    name_of,
    run_transition,
)
from releases import services as s
from releases.choices import CANCELLABLE_STATES
from releases.models import FreezeWindow, OutboxMessage, Release, RollbackPlan, TransitionLog
from releases.scenario import Walker, authorised_rfc, new_release
from tests.helpers import grant, logs_of, reach
from tests.signatures import PASSWORD, signature, signed

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


# --- helpers ---------------------------------------------------------------------------


def snapshot(release):
    """What a refused transition must leave untouched."""
    return {
        "state": Release.objects.get(pk=release.pk).state,
        "logs": TransitionLog.objects.count(),
        "history": Release.history.filter(id=release.pk).count(),
        "outbox": OutboxMessage.objects.count(),
    }


def attempt(w, name, by, payload):
    """The transition as ``by`` takes it; a signed decision signed with
    ``by``'s password (the test users', tests/signatures.py)."""
    return s.release_transition(release_id=w.release.pk, name=name, by=by, **signed(Release, name, payload))


def plan_fields(w, **over):
    r = w.release
    fields = dict(scope="Components listed in the release scope.", deployment_start=r.planned_start + 2 * H,
                  deployment_end=r.planned_end - 2 * H, deployment_approach="Rolling deployment.",
                  risks="Degradation during rollout.", teams="Build, test and deployment teams.")
    fields.update(over)
    return fields


def tasks(w, **over):
    r = w.release
    for step, title, who in ((4, "Assemble packages", w.a.build_team),
                             (12, "Deploy to production", w.a.deployment_team)):
        fields = dict(assignee_user=who, planned_start=r.planned_start + 3 * H, planned_end=r.planned_end - 3 * H)
        fields.update(over)
        s.task_create(release_id=r.pk, by=w.rm, title=title, step=step, **fields)


def finish_tasks(w, step, by):
    for task in w.release.tasks.filter(step=step, state="open"):
        s.task_transition(task_id=task.pk, name="start", by=by)
        s.task_transition(task_id=task.pk, name="complete", by=by)


# --- prep: make a transition's guards true; return (actor, payload) -----------------------


def prep_start_planning(w):
    return w.rm, {}


def prep_submit_plan(w):
    w.plan()
    return w.rm, {}


def prep_approve_plan(w):
    quorum = 1 if w.release.release_type == "emergency" else 2
    for member in w.a.cab_members[:quorum]:
        w.add("votes", member, decision="approve", comment="Looks fine.")
    return w.a.cab_members[0], {}


def prep_reject_plan(w):
    w.add("votes", w.a.cab_members[0], decision="reject", comment="Risks not mitigated.")
    return w.a.cab_members[0], {"reason": "The risks are not mitigated."}


def prep_schedule(w):
    tasks(w)
    return w.rm, {}


def prep_start_packaging(w):
    return w.rm, {}


def prep_start_build(w):
    finish_tasks(w, 4, w.a.build_team)
    return w.rm, {}


def prep_complete_build(w, skip=(), **over):
    r = w.release
    if "document" not in skip:
        doc = dict(build_install_test_plans="make build", monitoring_qa="Dashboards.", deployment_procedures="deploy.yml",
                   rollback_procedures="Redeploy previous.", remediation_steps="Page on-call.")
        doc.update(over.get("document", {}))
        w.add("build_documents", w.a.build_team, **doc)
    if "security" not in skip:
        w.add("security_checks", w.a.build_team, passed=over.get("security_passed", True))
    if "prerequisites" not in skip:
        w.add("prerequisite_checks", w.a.build_team, description="Migrations reviewed",
              verified=over.get("prerequisite_verified", True))
    if "baseline" not in skip:
        s.release_capture_baseline(release_id=r.pk, by=w.a.configuration_manager)
    return w.a.build_team, {}


def prep_start_testing(w):
    return w.rm, {}


def prep_pass_tests(w):
    for case in w.release.test_cases.filter(mandatory=True):
        w.add("test_results", w.a.test_team, test_case=case, outcome="passed")
    return w.rm, {}


def prep_fail_tests(w):
    case = w.release.test_cases.filter(mandatory=True).first()
    w.add("test_results", w.a.test_team, test_case=case, outcome="failed", notes="500 on checkout.")
    return w.rm, {}


def prep_update_plans(w, skip=(), rollback_verification="tested", check_passed=True):
    if "plan" not in skip:
        w.plan()
    if "rollback" not in skip:
        w.add("rollback_plans", w.rm, content="Restore the pre-release baseline.", verification=rollback_verification)
    if "checks" not in skip:
        w.add("pre_implementation_checks", w.rm, description="Change window confirmed", passed=check_passed)
    return w.rm, {}


def prep_prepare(w, skip=(), env_ready=True):
    r = w.release
    if "env" not in skip:
        w.add("environment_readiness", w.a.deployment_team, environment="production", ready=env_ready)
    if "criteria" not in skip:
        s.release_update(release_id=r.pk, by=w.rm, acceptance_criteria="Health checks green for 1 hour.")
    if "notice" not in skip:
        w.add("communications", w.rm, kind="stakeholder_notice", roles=["stakeholder"], subject="Coming soon")
    return w.rm, {}


def go_decider(w):
    return w.a.change_manager if w.release.release_type == "major" else w.a.delivery_manager


def prep_approve_go(w, skip=()):
    if "readiness" not in skip:
        w.add("readiness_assessments", w.a.delivery_manager, risks="Low.", recommendation="Go.")
    return go_decider(w), {}


def prep_no_go(w):
    w.add("readiness_assessments", w.a.delivery_manager, risks="High.", recommendation="No-Go.")
    return go_decider(w), {"reason": "Open severity-1 incident on the platform."}


def prep_record_backup(w, verified=True):
    w.add("backups", w.rm, what="Application and database", location="vault", taken_at=timezone.now(),
          verified=verified)
    return w.rm, {}


def prep_start_deployment(w):
    return w.a.deployment_team, {}


def prep_complete_deployment(w):
    finish_tasks(w, 12, w.a.deployment_team)
    return w.a.deployment_team, {}


def prep_verify_deployment(w, passed=True):
    w.add("health_checks", w.rm, passed=passed, details="Endpoints answer.")
    return w.rm, {}


def prep_evaluate(w):
    w.add("evaluations", w.a.change_manager, summary="Objectives met.")
    return w.a.change_manager, {}


def prep_start_review(w):
    return w.a.change_manager, {}


def prep_accept(w, outcome="success"):
    w.add("reviews", w.a.change_manager, outcome=outcome, findings="No incidents.")
    return w.a.change_manager, {}


def prep_rollback(w):
    w.add("rollback_advice", w.a.delivery_manager, advice="Error rate above threshold.")
    return w.rm, {}


def prep_complete_rollback(w):
    return w.rm, {}


def prep_close(w, skip=()):
    if "comments" not in skip:
        for rfc in w.release.rfcs.all():
            w.add("closure_comments", w.rm, rfc=rfc, comment="Delivered.")
    if "tasks" not in skip:
        for task in w.release.tasks.exclude(state__in=("done", "cancelled")):
            s.task_transition(task_id=task.pk, name="cancel", by=w.rm, reason="Not needed.")
    return w.rm, {}


def prep_cancel(w):
    return w.rm, {"reason": "The business withdrew the change."}


@dataclass(frozen=True)
class Case:
    source: str
    target: str
    prep: Callable
    rollback_from: str | None = None


CASES = {
    "start_planning": Case("new", "planning", prep_start_planning),
    "submit_plan": Case("planning", "plan_submitted", prep_submit_plan),
    "approve_plan": Case("plan_submitted", "plan_approved", prep_approve_plan),
    "reject_plan": Case("plan_submitted", "planning", prep_reject_plan),
    "schedule": Case("plan_approved", "scheduled", prep_schedule),
    "start_packaging": Case("scheduled", "packaging", prep_start_packaging),
    "start_build": Case("packaging", "building", prep_start_build),
    "complete_build": Case("building", "built", prep_complete_build),
    "start_testing": Case("built", "testing", prep_start_testing),
    "pass_tests": Case("testing", "tests_passed", prep_pass_tests),
    "fail_tests": Case("testing", "building", prep_fail_tests),
    "update_plans": Case("tests_passed", "plans_updated", prep_update_plans),
    "prepare": Case("plans_updated", "ready", prep_prepare),
    "approve_go": Case("ready", "go", prep_approve_go),
    "no_go": Case("ready", "plans_updated", prep_no_go),
    "record_backup": Case("go", "backed_up", prep_record_backup),
    "start_deployment": Case("backed_up", "deploying", prep_start_deployment),
    "complete_deployment": Case("deploying", "deployed", prep_complete_deployment),
    "verify_deployment": Case("deployed", "verified", prep_verify_deployment),
    "evaluate": Case("verified", "evaluated", prep_evaluate),
    "start_review": Case("evaluated", "in_review", prep_start_review),
    "accept": Case("in_review", "succeeded", prep_accept),
    "rollback": Case("deployed", "rolling_back", prep_rollback),
    "complete_rollback": Case("rolling_back", "rolled_back", prep_complete_rollback, rollback_from="deployed"),
    "close": Case("succeeded", "closed", prep_close),
    "cancel": Case("planning", "cancelled", prep_cancel),
}

CONTRACT_TRANSITIONS = [
    "start_planning", "submit_plan", "approve_plan", "reject_plan", "schedule", "start_packaging", "start_build",
    "complete_build", "start_testing", "pass_tests", "fail_tests", "update_plans", "prepare", "approve_go", "no_go",
    "record_backup", "start_deployment", "complete_deployment", "verify_deployment", "evaluate", "start_review",
    "accept", "rollback", "complete_rollback", "close", "cancel",
]


def test_the_model_declares_exactly_the_contracts_transitions():
    from releasemgmt.workflow import specs

    declared = specs(Release)
    assert set(declared) == set(CONTRACT_TRANSITIONS) == set(CASES)
    for name, case in CASES.items():
        assert case.source in declared[name].sources, name
        assert declared[name].target == case.target, name


# --- (a) allowed -----------------------------------------------------------------------


def assert_performed(w, name, by, source, target, before):
    release = Release.objects.get(pk=w.release.pk)
    assert release.state == target
    log = TransitionLog.objects.filter(object_id=release.pk, content_type__model="release").last()
    assert (log.name, log.source, log.target, log.by) == (name, source, target, by)
    assert TransitionLog.objects.filter(content_type__model="release", object_id=release.pk).count() == \
        before["release_logs"] + 1
    latest = release.history.first()
    assert latest.history_change_reason == name
    assert latest.state == target
    assert latest.history_user == by
    return release


def release_logs(release):
    return logs_of(release).count()


ALLOWED = [pytest.param(name, "minor", id=name) for name in CONTRACT_TRANSITIONS] + [
    pytest.param("approve_plan", "emergency", id="approve_plan-emergency-one-ecab-vote"),
    pytest.param("approve_go", "major", id="approve_go-major-by-change-manager"),
    pytest.param("no_go", "major", id="no_go-major-by-change-manager"),
    pytest.param("close", "minor-rolled-back", id="close-after-rollback"),
]


@pytest.mark.parametrize("name, release_type", ALLOWED)
def test_transition_is_performed_when_its_guards_are_met(actors, cis, name, release_type):
    case = CASES[name]
    rollback_from = case.rollback_from
    source = case.source
    if release_type == "minor-rolled-back":
        release_type, source, rollback_from = "minor", "rolled_back", "deployed"
    w = reach(actors, cis, source, release_type=release_type, rollback_from=rollback_from)
    by, payload = case.prep(w)
    before = {"release_logs": release_logs(w.release)}

    attempt(w, name, by, payload)

    release = assert_performed(w, name, by, source, case.target, before)
    if "reason" in payload:
        assert TransitionLog.objects.filter(object_id=release.pk, name=name).last().reason == payload["reason"]


def test_approve_plan_by_a_cab_member_who_did_not_vote_counts_the_votes(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    prep_approve_plan(w)
    third = actors.cab_members[2]
    attempt(w, "approve_plan", third, {})
    release = Release.objects.get(pk=w.release.pk)
    assert release.state == "plan_approved"
    assert release.approved_plan == release.current_plan


@pytest.mark.parametrize("source", ["deploying", "deployed", "verified", "evaluated", "in_review"])
def test_rollback_is_possible_from_every_live_state(actors, cis, source):
    w = reach(actors, cis, source)
    by, payload = prep_rollback(w)
    before = {"release_logs": release_logs(w.release)}
    attempt(w, "rollback", by, payload)
    assert_performed(w, "rollback", by, source, "rolling_back", before)


@pytest.mark.parametrize("source", CANCELLABLE_STATES)
def test_cancel_is_possible_from_every_state_before_deploying(actors, cis, source):
    w = reach(actors, cis, source)
    # the change manager may cancel too; alternate between the two roles
    by = actors.change_manager if CANCELLABLE_STATES.index(source) % 2 else actors.release_manager
    before = {"release_logs": release_logs(w.release)}
    attempt(w, "cancel", by, {"reason": "Withdrawn."})
    assert_performed(w, "cancel", by, source, "cancelled", before)


def test_major_go_may_be_given_by_a_cab_member(actors, cis):
    w = reach(actors, cis, "ready", release_type="major")
    prep_approve_go(w)
    before = {"release_logs": release_logs(w.release)}
    attempt(w, "approve_go", actors.cab_members[0], {})
    assert_performed(w, "approve_go", actors.cab_members[0], "ready", "go", before)


def test_emergency_passes_tests_with_a_justified_deferral(actors, cis):
    w = reach(actors, cis, "testing", release_type="emergency")
    deferred, other = w.release.test_cases.order_by("pk")
    s.record_update(record=deferred, by=actors.test_team, deferred=True,
                    deferral_justification="Regression suite needs 6 h; outage is ongoing.")
    w.add("test_results", actors.test_team, test_case=other, outcome="passed")
    attempt(w, "pass_tests", actors.release_manager, {})
    assert Release.objects.get(pk=w.release.pk).state == "tests_passed"


def test_emergency_may_start_deployment_in_a_freeze_with_a_reason(actors, cis):
    w = reach(actors, cis, "backed_up", release_type="emergency")
    FreezeWindow.objects.create(name="Year-end freeze", start=timezone.now() - H, end=timezone.now() + 24 * H)
    attempt(w, "start_deployment", actors.deployment_team, {"freeze_override_reason": "Security hotfix (CVE)."})
    release = Release.objects.get(pk=w.release.pk)
    assert release.state == "deploying"
    assert release.latest("deployments").freeze_override_reason == "Security hotfix (CVE)."


def test_a_freeze_on_cis_outside_the_scope_does_not_block(actors, cis):
    w = reach(actors, cis, "backed_up")
    other = ConfigurationItem.objects.create(name="billing-api", version="1.0")
    freeze = FreezeWindow.objects.create(name="Billing freeze", start=timezone.now() - H, end=timezone.now() + H)
    freeze.cis.add(other)
    attempt(w, "start_deployment", actors.deployment_team, {})
    assert Release.objects.get(pk=w.release.pk).state == "deploying"


def test_downtime_broadcast_in_advance_lets_deployment_start(actors, cis):
    w = reach(actors, cis, "tests_passed")
    w.add("plans", actors.release_manager, downtime_expected=True, **plan_fields(w))
    w.to("backed_up")
    w.add("communications", actors.release_manager, kind="downtime_broadcast", roles=["stakeholder"],
          subject="Downtime tonight")
    attempt(w, "start_deployment", actors.deployment_team, {})
    assert Release.objects.get(pk=w.release.pk).state == "deploying"


# --- (b) blocked by a guard --------------------------------------------------------------


# One status per meaning (docs/api.md, "Errors"): segregation of duties is a
# refusal of authority, a missing reason an incomplete request, any other
# unmet condition a conflict with the release as it stands.
STATUS_OF = {"segregation_of_duties": (403, "segregation_of_duties"), "reason_required": (400, "reason_required")}


def assert_blocked(w, name, by, payload, expected, exact=True):
    before = snapshot(w.release)
    with pytest.raises(TransitionError) as exc:
        attempt(w, name, by, payload)
    codes = {b.code for b in exc.value.blockers}
    if exact:
        assert codes == set(expected), exc.value.as_dict()
    else:
        assert set(expected) <= codes, exc.value.as_dict()
    meaning = next((STATUS_OF[c] for c in STATUS_OF if c in codes), (409, None))
    assert exc.value.status == meaning[0], exc.value.as_dict()
    assert meaning[1] in (None, exc.value.code)
    assert snapshot(w.release) == before
    return exc.value


# Each setup takes the walker (standing in the source state) and returns
# (actor, payload) with exactly one guard unmet.


def _release_without_rfcs(w):
    # The services refuse to unlink the last RFC (see the test below); the
    # guard still protects against data changed behind their back.
    w.release.rfcs.clear()
    return w.rm, {}


def _no_plan(w):
    return w.rm, {}


def _plan(**over):
    def setup(w):
        w.add("plans", w.rm, **plan_fields(w, **over))
        return w.rm, {}
    return setup


def _votes(*decisions, by_index=0, new_version=False):
    def setup(w):
        for member, decision in zip(w.a.cab_members, decisions):
            w.add("votes", member, decision=decision)
        if new_version:
            w.plan()
        return w.a.cab_members[by_index], {}
    return setup


def _tasks(**over):
    def setup(w):
        tasks(w, **over)
        return w.rm, {}
    return setup


def _without_target_version(w):
    ci = w.release.scope_items.first().ci
    s.scope_set(release_id=w.release.pk, ci=ci, target_version="  ", by=w.rm)
    return w.rm, {}


def _dependency_cycle(w):
    api, db_ci = [i.ci for i in w.release.scope_items.order_by("ci__name")]
    api.depends_on.add(db_ci)
    db_ci.depends_on.add(api)
    return prep_start_build(w)


def _build(skip=(), **over):
    return lambda w: prep_complete_build(w, skip=skip, **over)


def _results(*outcomes):
    def setup(w):
        for case, outcome in zip(w.release.test_cases.order_by("pk"), outcomes):
            if outcome:
                w.add("test_results", w.a.test_team, test_case=case, outcome=outcome)
        return w.rm, {}
    return setup


def _deferred(justification=""):
    def setup(w):
        deferred, other = w.release.test_cases.order_by("pk")
        s.record_update(record=deferred, by=w.a.test_team, deferred=True, deferral_justification=justification)
        w.add("test_results", w.a.test_team, test_case=other, outcome="passed")
        return w.rm, {}
    return setup


def _update(**kw):
    return lambda w: prep_update_plans(w, **kw)


def _prepare(**kw):
    return lambda w: prep_prepare(w, **kw)


def _training(status):
    def setup(w):
        w.add("training_plans", w.rm, plan="Service desk briefing.", status=status)
        return prep_approve_go(w)
    return setup


def _release_manager_with(role, name):
    def setup(w):
        by, payload = CASES[name].prep(w)
        return grant(w.rm, role), payload
    return setup


def _no_reason(name):
    def setup(w):
        by, payload = CASES[name].prep(w)
        return by, {**payload, "reason": "   "}
    return setup


def _freeze(*, on_scope=False, override=""):
    def setup(w):
        freeze = FreezeWindow.objects.create(name="Peak-season freeze", start=timezone.now() - H,
                                             end=timezone.now() + 24 * H)
        if on_scope:
            freeze.cis.add(w.release.scope_items.first().ci)
        return w.a.deployment_team, ({"freeze_override_reason": override} if override else {})
    return setup


def _open_deployment_task(w):
    return w.a.deployment_team, {}


def _failed_deployment(w):
    """The deployment tasks done, but the deployment reported failed (the deployment gate)."""
    from releases.models import Task

    for task in w.release.tasks.filter(step=12, state="open"):
        for step in (Task.start, Task.complete):
            s.task_transition(task_id=task.pk, name=name_of(step), by=w.a.deployment_team)
    s.deployment_fail(release_id=w.release.pk, deployment_id=w.release.latest("deployments").pk,
                      by=w.a.deployment_team)
    return w.a.deployment_team, {}


def _open_task_then_close(w):
    r = w.release
    s.task_create(release_id=r.pk, by=w.rm, title="Decommission old nodes", step=12, assignee_user=w.a.deployment_team,
                  planned_start=r.planned_start + 3 * H, planned_end=r.planned_end - 3 * H)
    return prep_close(w, skip={"tasks"})


def _rollback_plan_unverified(w):
    # No service can un-verify a rollback plan once deployment started (its
    # step is closed); this simulates the data going bad to exercise the guard.
    RollbackPlan.objects.filter(release=w.release).update(verification="none")
    return prep_rollback(w)


def _archive_pre_release_baseline(prep):
    # The services refuse to archive a live release's restore point (see
    # test_a_live_release_restore_point_cannot_be_archived); this simulates the
    # data going bad to exercise the guard.
    def setup(w):
        by, payload = prep(w)
        baseline = w.release.pre_release_baseline
        type(baseline).objects.filter(pk=baseline.pk).update(state="archived")
        return by, payload
    return setup


def test_a_live_release_restore_point_cannot_be_archived(actors, cis):
    w = reach(actors, cis, "deployed")
    baseline = w.release.pre_release_baseline
    with pytest.raises(TransitionBlocked) as exc:
        run_transition(type(baseline), baseline.pk, "archive", by=actors.configuration_manager)
    assert {b.code for b in exc.value.blockers} == {"restore_point_in_use"}
    assert type(baseline).objects.get(pk=baseline.pk).state == "captured"


def _skip_prep(name, **kw):
    return lambda w: CASES[name].prep(w, **kw)


def _only_actor(by_attr):
    return lambda w: (getattr(w.a, by_attr) if by_attr != "rm" else w.rm, {})


BLOCKED = [
    # start_planning
    pytest.param("start_planning", "new", "minor", _release_without_rfcs, {"no_rfcs"}, id="start_planning-no_rfcs"),
    # submit_plan
    pytest.param("submit_plan", "planning", "minor", _no_plan, {"plan_missing"}, id="submit_plan-plan_missing"),
    pytest.param("submit_plan", "planning", "minor", _plan(scope=" ", risks=""), {"plan_incomplete"},
                 id="submit_plan-plan_incomplete-text"),
    pytest.param("submit_plan", "planning", "minor", _plan(deployment_start=None, deployment_end=None),
                 {"plan_incomplete"}, id="submit_plan-plan_incomplete-no-window"),
    pytest.param("submit_plan", "planning", "minor",
                 lambda w: _plan(deployment_end=w.release.planned_end + 24 * H)(w), {"plan_incomplete"},
                 id="submit_plan-plan_incomplete-window-outside-planned"),
    # approve_plan
    pytest.param("approve_plan", "plan_submitted", "minor", _votes("approve"), {"quorum_not_reached"},
                 id="approve_plan-one-vote-quorum_not_reached"),
    pytest.param("approve_plan", "plan_submitted", "minor", _votes(), {"quorum_not_reached"},
                 id="approve_plan-no-votes"),
    pytest.param("approve_plan", "plan_submitted", "emergency", _votes(), {"quorum_not_reached"},
                 id="approve_plan-emergency-no-votes"),
    pytest.param("approve_plan", "plan_submitted", "minor", _votes("approve", "approve", "reject"),
                 {"open_reject_vote"}, id="approve_plan-open_reject_vote"),
    pytest.param("approve_plan", "plan_submitted", "minor", _votes("approve", "approve", new_version=True),
                 {"quorum_not_reached"}, id="approve_plan-new-plan-version-voids-votes"),
    pytest.param("approve_plan", "plan_submitted", "minor", _release_manager_with("cab_member", "approve_plan"),
                 {"segregation_of_duties"}, id="approve_plan-by-release-manager-sod"),
    # reject_plan
    pytest.param("reject_plan", "plan_submitted", "minor", _no_reason("reject_plan"), {"reason_required"},
                 id="reject_plan-reason_required"),
    pytest.param("reject_plan", "plan_submitted", "minor", _release_manager_with("cab_member", "reject_plan"),
                 {"segregation_of_duties"}, id="reject_plan-by-release-manager-sod"),
    # schedule
    pytest.param("schedule", "plan_approved", "minor", _only_actor("rm"), {"no_tasks"}, id="schedule-no_tasks"),
    pytest.param("schedule", "plan_approved", "minor", _tasks(assignee_user=None), {"task_unassigned"},
                 id="schedule-task_unassigned"),
    pytest.param("schedule", "plan_approved", "minor", _tasks(planned_start=None, planned_end=None),
                 {"task_undated"}, id="schedule-task_undated"),
    pytest.param("schedule", "plan_approved", "minor",
                 lambda w: _tasks(planned_end=w.release.planned_end + 48 * H)(w), {"task_outside_window"},
                 id="schedule-task_outside_window"),
    # start_packaging
    pytest.param("start_packaging", "scheduled", "minor", _without_target_version, {"target_version_missing"},
                 id="start_packaging-target_version_missing"),
    # start_build
    pytest.param("start_build", "packaging", "minor", _only_actor("rm"), {"packaging_not_done"},
                 id="start_build-packaging_not_done"),
    pytest.param("start_build", "packaging", "minor", _dependency_cycle, {"dependency_cycle"},
                 id="start_build-dependency_cycle"),
    # complete_build
    pytest.param("complete_build", "building", "minor", _build(skip={"document"}), {"build_document_missing"},
                 id="complete_build-build_document_missing"),
    pytest.param("complete_build", "building", "minor", _build(document={"rollback_procedures": ""}),
                 {"build_document_incomplete"}, id="complete_build-build_document_incomplete"),
    pytest.param("complete_build", "building", "minor", _build(skip={"security"}), {"security_check"},
                 id="complete_build-security-not-checked"),
    pytest.param("complete_build", "building", "minor", _build(security_passed=False), {"security_check"},
                 id="complete_build-security-failed"),
    pytest.param("complete_build", "building", "minor", _build(skip={"prerequisites"}),
                 {"prerequisites_unverified"}, id="complete_build-no-prerequisites"),
    pytest.param("complete_build", "building", "minor", _build(prerequisite_verified=False),
                 {"prerequisites_unverified"}, id="complete_build-prerequisite-unverified"),
    pytest.param("complete_build", "building", "minor", _build(skip={"baseline"}), {"baseline_missing"},
                 id="complete_build-baseline_missing"),
    # pass_tests
    pytest.param("pass_tests", "testing", "minor", _results(), {"test_not_run"}, id="pass_tests-test_not_run"),
    pytest.param("pass_tests", "testing", "minor", _results("passed", "failed"), {"test_not_passed"},
                 id="pass_tests-test_not_passed"),
    pytest.param("pass_tests", "testing", "minor", _results("passed", "blocked"), {"test_not_passed"},
                 id="pass_tests-test-blocked"),
    pytest.param("pass_tests", "testing", "minor", _results("failed", None), {"test_not_passed", "test_not_run"},
                 id="pass_tests-failed-and-not-run"),
    pytest.param("pass_tests", "testing", "emergency", _deferred(""), {"deferral_unjustified"},
                 id="pass_tests-emergency-deferral_unjustified"),
    pytest.param("pass_tests", "testing", "minor", _deferred("We are in a hurry."), {"test_not_run"},
                 id="pass_tests-minor-may-not-defer"),
    # fail_tests
    pytest.param("fail_tests", "testing", "minor", _results("passed", "passed"), {"no_failed_test"},
                 id="fail_tests-no_failed_test"),
    pytest.param("fail_tests", "testing", "minor", _results(), {"no_failed_test"},
                 id="fail_tests-nothing-run"),
    # update_plans
    pytest.param("update_plans", "tests_passed", "minor", _update(skip={"plan"}), {"plan_not_revised"},
                 id="update_plans-plan_not_revised"),
    pytest.param("update_plans", "tests_passed", "minor", _update(skip={"rollback"}), {"rollback_plan_missing"},
                 id="update_plans-rollback_plan_missing"),
    pytest.param("update_plans", "tests_passed", "minor", _update(rollback_verification="none"),
                 {"rollback_plan_unverified"}, id="update_plans-rollback_plan_unverified"),
    pytest.param("update_plans", "tests_passed", "minor", _update(skip={"checks"}), {"pre_implementation_checks"},
                 id="update_plans-no-pre_implementation_checks"),
    pytest.param("update_plans", "tests_passed", "minor", _update(check_passed=False),
                 {"pre_implementation_checks"}, id="update_plans-pre_implementation_check-failed"),
    # prepare
    pytest.param("prepare", "plans_updated", "minor", _prepare(skip={"env"}), {"environments_not_ready"},
                 id="prepare-no-environment"),
    pytest.param("prepare", "plans_updated", "minor", _prepare(env_ready=False), {"environments_not_ready"},
                 id="prepare-environment-not-ready"),
    pytest.param("prepare", "plans_updated", "minor", _prepare(skip={"criteria"}), {"acceptance_criteria_missing"},
                 id="prepare-acceptance_criteria_missing"),
    pytest.param("prepare", "plans_updated", "minor", _prepare(skip={"notice"}), {"stakeholders_not_told"},
                 id="prepare-stakeholders_not_told"),
    # approve_go
    pytest.param("approve_go", "ready", "minor", _skip_prep("approve_go", skip={"readiness"}),
                 {"readiness_not_assessed"}, id="approve_go-readiness_not_assessed"),
    pytest.param("approve_go", "ready", "major", _training("planned"), {"training_not_done"},
                 id="approve_go-major-training_not_done"),
    pytest.param("approve_go", "ready", "minor", _release_manager_with("delivery_manager", "approve_go"),
                 {"segregation_of_duties"}, id="approve_go-release-manager-also-delivery-manager-sod"),
    pytest.param("approve_go", "ready", "major", _release_manager_with("change_manager", "approve_go"),
                 {"segregation_of_duties"}, id="approve_go-major-release-manager-also-change-manager-sod"),
    # no_go
    pytest.param("no_go", "ready", "minor", _no_reason("no_go"), {"reason_required"}, id="no_go-reason_required"),
    pytest.param("no_go", "ready", "minor", _release_manager_with("delivery_manager", "no_go"),
                 {"segregation_of_duties"}, id="no_go-by-release-manager-sod"),
    # record_backup
    pytest.param("record_backup", "go", "minor", _only_actor("rm"), {"backup_missing"},
                 id="record_backup-backup_missing"),
    pytest.param("record_backup", "go", "minor", _skip_prep("record_backup", verified=False), {"backup_unverified"},
                 id="record_backup-backup_unverified"),
    # start_deployment
    pytest.param("start_deployment", "backed_up", "minor", _freeze(), {"freeze_window"},
                 id="start_deployment-global-freeze_window"),
    pytest.param("start_deployment", "backed_up", "minor", _freeze(on_scope=True), {"freeze_window"},
                 id="start_deployment-ci-freeze_window"),
    pytest.param("start_deployment", "backed_up", "minor", _freeze(override="Please."), {"freeze_window"},
                 id="start_deployment-minor-may-not-override-freeze"),
    pytest.param("start_deployment", "backed_up", "emergency", _freeze(), {"freeze_window"},
                 id="start_deployment-emergency-override-needs-a-reason"),
    # complete_deployment
    pytest.param("complete_deployment", "deploying", "minor", _open_deployment_task, {"deployment_tasks_open"},
                 id="complete_deployment-deployment_tasks_open"),
    pytest.param("complete_deployment", "deploying", "minor", _failed_deployment, {"deployment_failed"},
                 id="complete_deployment-deployment_failed"),
    # verify_deployment
    pytest.param("verify_deployment", "deployed", "minor", _only_actor("rm"), {"health_check_missing"},
                 id="verify_deployment-health_check_missing"),
    pytest.param("verify_deployment", "deployed", "minor", _skip_prep("verify_deployment", passed=False),
                 {"health_check_failed"}, id="verify_deployment-health_check_failed"),
    # evaluate
    pytest.param("evaluate", "verified", "minor", _only_actor("change_manager"), {"evaluation_missing"},
                 id="evaluate-evaluation_missing"),
    # accept
    pytest.param("accept", "in_review", "minor", _only_actor("change_manager"), {"pir_missing"},
                 id="accept-pir_missing"),
    pytest.param("accept", "in_review", "minor", _skip_prep("accept", outcome="rollback_required"),
                 {"pir_not_success"}, id="accept-pir_not_success"),
    # rollback
    pytest.param("rollback", "deployed", "minor", _only_actor("rm"), {"rollback_not_advised"},
                 id="rollback-rollback_not_advised"),
    pytest.param("rollback", "deployed", "minor", _rollback_plan_unverified, {"rollback_plan_unverified"},
                 id="rollback-rollback_plan_unverified"),
    pytest.param("rollback", "deployed", "minor", _archive_pre_release_baseline(prep_rollback), {"baseline_missing"},
                 id="rollback-baseline_missing"),
    # complete_rollback
    pytest.param("complete_rollback", "rolling_back", "minor", _archive_pre_release_baseline(prep_complete_rollback),
                 {"baseline_missing"}, id="complete_rollback-baseline_missing"),
    # close
    pytest.param("close", "succeeded", "minor", _skip_prep("close", skip={"comments"}), {"closure_comment_missing"},
                 id="close-closure_comment_missing"),
    pytest.param("close", "succeeded", "minor", _open_task_then_close, {"tasks_open"},
                 id="close-tasks_open"),
    # cancel
    pytest.param("cancel", "planning", "minor", _no_reason("cancel"), {"reason_required"},
                 id="cancel-reason_required"),
]


@pytest.mark.parametrize("name, source, release_type, setup, expected", BLOCKED)
def test_transition_is_blocked_by_each_unmet_guard(actors, cis, name, source, release_type, setup, expected):
    w = reach(actors, cis, source, release_type=release_type, rollback_from=CASES[name].rollback_from)
    by, payload = setup(w)
    assert_blocked(w, name, by, payload, expected)


def test_every_guard_blocker_code_of_the_release_is_exercised():
    """Keeps the BLOCKED table honest: every code guards.py can yield for a
    release transition appears in it (or in a dedicated test below)."""
    import re
    from pathlib import Path

    import releases.guards as guards

    src = Path(guards.__file__).read_text()
    codes = set(re.findall(r'Blocker\(\s*"([a-z_]+)"', src))
    tested = set().union(*(p.values[4] for p in BLOCKED))
    dedicated = {"rfc_not_open", "rfc_not_authorized", "scope_undefined", "no_mandatory_tests", "outside_window",
                 "downtime_not_broadcast", "training_missing",
                 "release_conflict"}  # tests/notify/test_calendar_and_conflicts.py
    assert codes - tested - dedicated == set()


# dedicated blocked cases: the setup needs a different release, not just records


def test_start_planning_is_blocked_by_a_rejected_rfc(actors, cis):
    rfc = rfc_create(by=actors.requester, title="Risky change", description="Risky.")
    release = new_release(actors, rfcs=[rfc], cis=cis)
    rfc_transition(rfc_id=rfc.pk, name="reject", by=actors.change_manager, reason="Too risky.",
                   signature=signature())
    w = Walker(release, actors)
    exc = assert_blocked(w, "start_planning", actors.release_manager, {}, {"rfc_not_open"})
    assert rfc.number in exc.blockers[0].message


def test_approve_plan_is_blocked_until_every_rfc_is_authorised(actors, cis):
    rfc = rfc_create(by=actors.requester, title="Assessed only", description="Not yet authorised.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    w = Walker(new_release(actors, rfcs=[rfc, authorised_rfc(actors, "Authorised")], cis=cis), actors)
    w.to("plan_submitted")
    by, payload = prep_approve_plan(w)
    exc = assert_blocked(w, "approve_plan", by, payload, {"rfc_not_authorized"})
    assert [b.message for b in exc.blockers] == [f"{rfc.number} has not been authorised by Change Management."]


def test_approve_plan_by_an_rfc_requester_is_segregation_of_duties(actors, cis, make_user):
    requester = make_user("cab_member")
    rfc = authorised_rfc(actors, "Requested by a CAB member", requester=requester)
    assert rfc.requester == requester
    w = Walker(new_release(actors, rfcs=[rfc], cis=cis), actors)
    w.to("plan_submitted")
    prep_approve_plan(w)
    assert_blocked(w, "approve_plan", requester, {}, {"segregation_of_duties"})
    # the votes of the others still let an unconflicted CAB member approve
    attempt(w, "approve_plan", actors.cab_members[2], {})
    assert Release.objects.get(pk=w.release.pk).state == "plan_approved"


def test_a_conflicted_vote_never_counts_towards_the_quorum(actors, cis, make_user):
    """Even if an approve vote of the release manager exists (e.g. written
    before they were made release manager), it is not counted."""
    from releases.models import CabVote

    w = reach(actors, cis, "plan_submitted")
    w.add("votes", actors.cab_members[0], decision="approve")
    CabVote.objects.create(release=w.release, plan=w.release.current_plan, decision="approve",
                           created_by=grant(actors.release_manager, "cab_member"))
    assert_blocked(w, "approve_plan", actors.cab_members[1], {}, {"quorum_not_reached"})


def test_start_packaging_is_blocked_without_a_scope(actors):
    w = reach(actors, [], "scheduled")
    assert_blocked(w, "start_packaging", actors.release_manager, {}, {"scope_undefined"})


def test_pass_tests_is_blocked_without_mandatory_tests(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.add("test_cases", actors.test_team, name="Exploratory session", mandatory=False)
    w.to("testing")
    assert_blocked(w, "pass_tests", actors.release_manager, {}, {"no_mandatory_tests"})


@pytest.mark.parametrize("shift", [timedelta(days=3), -timedelta(days=30)], ids=["window-in-future", "window-past"])
def test_start_deployment_is_blocked_outside_the_planned_window(actors, cis, shift):
    w = reach(actors, cis, "backed_up", now=timezone.now() + shift)
    assert_blocked(w, "start_deployment", actors.deployment_team, {}, {"outside_window"})


def test_start_deployment_is_blocked_until_downtime_is_broadcast(actors, cis):
    w = reach(actors, cis, "tests_passed")
    w.add("plans", actors.release_manager, downtime_expected=True, **plan_fields(w))
    w.to("backed_up")
    # a stakeholder notice is not a downtime broadcast
    assert_blocked(w, "start_deployment", actors.deployment_team, {}, {"downtime_not_broadcast"})


def test_major_go_is_blocked_without_a_training_plan(actors, cis):
    w = reach(actors, cis, "plans_updated", release_type="major")
    # the walker adds a done training plan for a major release; make the
    # release ready without it
    prep_prepare(w)
    attempt(w, "prepare", actors.release_manager, {})
    w.release.refresh_from_db()
    by, payload = prep_approve_go(w)
    assert_blocked(w, "approve_go", by, payload, {"training_missing"})


def test_several_unmet_guards_are_all_reported(actors, cis):
    w = reach(actors, cis, "building")
    exc = assert_blocked(w, "complete_build", actors.build_team, {},
                         {"build_document_missing", "security_check", "prerequisites_unverified", "baseline_missing"})
    assert len(exc.blockers) == 4
    assert all(b.message for b in exc.blockers)


@pytest.mark.parametrize("name, source, by_attr, payload", [
    ("cancel", "deploying", "release_manager", {"reason": "Too late."}),
    ("cancel", "verified", "change_manager", {"reason": "Too late."}),
    ("cancel", "closed", "release_manager", {"reason": "Too late."}),
    ("start_testing", "planning", "release_manager", {}),
    ("approve_plan", "planning", "cab_members", {}),
    ("close", "in_review", "release_manager", {}),
    ("complete_rollback", "deployed", "release_manager", {}),
])
def test_transition_from_a_state_it_does_not_leave_is_invalid_state(actors, cis, name, source, by_attr, payload):
    w = reach(actors, cis, source)
    by = getattr(actors, by_attr)
    by = by[0] if isinstance(by, list) else by
    exc = assert_blocked(w, name, by, payload, {"invalid_state"})
    assert exc.code == "invalid_state"


@pytest.mark.parametrize("name", ["deploy_now", "save", "delete", "latest", "", "approve_plan "])
def test_an_unknown_transition_name_is_not_found(actors, cis, name):
    w = reach(actors, cis, "planning")
    before = snapshot(w.release)
    with pytest.raises(TransitionNotFound) as exc:
        attempt(w, name, actors.release_manager, {})
    assert exc.value.status == 404
    assert snapshot(w.release) == before


# --- (c) forbidden for a role that may not -------------------------------------------------

FORBIDDEN = [
    ("start_planning", "minor", ("stakeholder", "change_manager")),
    ("submit_plan", "minor", ("stakeholder", "test_team", "cab_member")),
    ("approve_plan", "minor", ("stakeholder", "release_manager", "change_manager")),
    ("approve_plan", "emergency", ("stakeholder", "change_manager")),
    ("reject_plan", "minor", ("stakeholder", "release_manager")),
    ("schedule", "minor", ("stakeholder", "delivery_manager")),
    ("start_packaging", "minor", ("stakeholder", "build_team")),
    ("start_build", "minor", ("stakeholder", "build_team")),
    ("complete_build", "minor", ("stakeholder", "test_team", "configuration_manager")),
    ("start_testing", "minor", ("stakeholder", "test_team")),
    ("pass_tests", "minor", ("stakeholder", "test_team")),
    ("fail_tests", "minor", ("stakeholder", "test_team")),
    ("update_plans", "minor", ("stakeholder", "change_manager")),
    ("prepare", "minor", ("stakeholder", "deployment_team")),
    ("approve_go", "minor", ("stakeholder", "release_manager", "change_manager", "cab_member")),
    ("approve_go", "major", ("stakeholder", "delivery_manager", "release_manager")),
    ("no_go", "minor", ("stakeholder", "release_manager", "cab_member")),
    ("no_go", "major", ("stakeholder", "delivery_manager")),
    ("record_backup", "minor", ("stakeholder", "deployment_team")),
    ("start_deployment", "minor", ("stakeholder", "build_team")),
    ("complete_deployment", "minor", ("stakeholder", "build_team")),
    ("verify_deployment", "minor", ("stakeholder", "change_manager")),
    ("evaluate", "minor", ("stakeholder", "release_manager")),
    ("start_review", "minor", ("stakeholder", "release_manager")),
    ("accept", "minor", ("stakeholder", "release_manager")),
    ("rollback", "minor", ("stakeholder", "delivery_manager", "change_manager")),
    ("complete_rollback", "minor", ("stakeholder", "change_manager")),
    ("close", "minor", ("stakeholder", "change_manager")),
    ("cancel", "minor", ("stakeholder", "delivery_manager", "cab_member")),
]


def test_the_forbidden_table_covers_every_transition():
    assert {n for n, _, _ in FORBIDDEN} == set(CONTRACT_TRANSITIONS)


@pytest.mark.parametrize("name, release_type, roles", [
    pytest.param(n, t, r, id=f"{n}-{t}") for n, t, r in FORBIDDEN
])
def test_transition_is_forbidden_for_a_role_that_may_not(actors, cis, make_user, name, release_type, roles):
    case = CASES[name]
    w = reach(actors, cis, case.source, release_type=release_type, rollback_from=case.rollback_from)
    rightful, payload = case.prep(w)  # every guard met: only the role is wrong
    for role in roles:
        user = make_user(role)
        before = snapshot(w.release)
        with pytest.raises(TransitionForbidden) as exc:
            attempt(w, name, user, payload)
        assert exc.value.status == 403, role
        assert exc.value.code == "forbidden"
        assert snapshot(w.release) == before, role
    # and the rightful actor still may
    attempt(w, name, rightful, payload)
    assert Release.objects.get(pk=w.release.pk).state == case.target


@pytest.mark.parametrize("who", ["anonymous", "nobody", "inactive_release_manager"])
def test_users_without_an_active_role_may_do_nothing(actors, cis, make_user, who):
    w = reach(actors, cis, "planning")
    prep_submit_plan(w)
    user = {
        "anonymous": lambda: AnonymousUser(),
        "nobody": lambda: make_user(),
        "inactive_release_manager": lambda: make_user("release_manager", is_active=False),
    }[who]()
    before = snapshot(w.release)
    with pytest.raises(TransitionForbidden):
        attempt(w, "submit_plan", user, {})
    assert snapshot(w.release) == before


def test_forbidden_is_reported_before_an_unmet_guard(actors, cis, make_user):
    w = reach(actors, cis, "planning")  # no plan: submit_plan would be blocked
    with pytest.raises(TransitionForbidden):
        attempt(w, "submit_plan", make_user("test_team"), {})


def test_superuser_is_still_bound_by_segregation_of_duties(actors, cis, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.test", PASSWORD)
    # an admin may decide Go for a release managed by someone else ...
    w = reach(actors, cis, "ready")
    prep_approve_go(w)
    attempt(w, "approve_go", admin, {})
    assert Release.objects.get(pk=w.release.pk).state == "go"
    # ... but not on a release they manage themselves
    now = timezone.now()
    own = s.release_create(by=admin, title="Admin's release", release_type="minor",
                           rfcs=[authorised_rfc(actors, "Admin change")], planned_start=now - 24 * H,
                           planned_end=now + 24 * 14 * H)
    assert own.release_manager == admin
    # Its own CI: the first release still holds orders-api/-db in this window.
    admin_ci = ConfigurationItem.objects.create(name="admin-tooling", version="1.0")
    s.scope_set(release_id=own.pk, ci=admin_ci, target_version="9.9", by=admin)
    w2 = Walker(own, actors)
    w2.to("ready")
    prep_approve_go(w2)
    assert_blocked(w2, "approve_go", admin, {}, {"segregation_of_duties"})


# --- regressions: bugs found while writing these tests (fixed in the working tree) -----------


def test_emergency_cannot_defer_a_mandatory_test_that_ran_and_failed(actors, cis):
    w = reach(actors, cis, "testing", release_type="emergency")
    failing, other = w.release.test_cases.order_by("pk")
    w.add("test_results", actors.test_team, test_case=failing, outcome="failed", notes="Checkout returns 500.")
    w.add("test_results", actors.test_team, test_case=other, outcome="passed")
    s.record_update(record=failing, by=actors.test_team, deferred=True, deferral_justification="Ship it anyway.")
    assert_blocked(w, "pass_tests", actors.release_manager, {}, {"test_not_passed"})


def test_release_update_refuses_to_unlink_every_rfc(actors, cis):
    w = reach(actors, cis, "new")
    with pytest.raises(ValidationError):
        s.release_update(release_id=w.release.pk, by=actors.release_manager, rfcs=[])
    assert w.release.rfcs.count() == 1


def test_release_update_cannot_rewrite_the_approved_plan(actors, cis):
    w = reach(actors, cis, "tests_passed")
    v1 = Release.objects.get(pk=w.release.pk).approved_plan
    v2 = w.plan()
    with pytest.raises((ValidationError, TransitionError)):
        s.release_update(release_id=w.release.pk, by=actors.release_manager, approved_plan=v2)
    assert Release.objects.get(pk=w.release.pk).approved_plan == v1


def test_release_update_refuses_the_state_field_cleanly(actors, cis):
    w = reach(actors, cis, "planning")
    with pytest.raises((ValidationError, TransitionError)):
        s.release_update(release_id=w.release.pk, by=actors.release_manager, state="closed")


def test_an_unauthorised_rfc_cannot_ride_on_an_approved_release(actors, cis):
    w = reach(actors, cis, "plan_approved")
    sneaky = rfc_create(by=actors.requester, title="Not assessed", description="Never seen by Change Management.")
    try:
        s.release_update(release_id=w.release.pk, by=actors.release_manager,
                         rfcs=[*w.release.rfcs.all(), sneaky])
    except (ValidationError, TransitionError):
        return  # refused up front: fine
    with pytest.raises(TransitionError):
        w.to("closed")  # or refused by a later guard


def test_changing_the_type_while_the_cab_votes_does_not_lower_the_quorum(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    w.add("votes", actors.cab_members[0], decision="approve")
    try:
        s.release_update(release_id=w.release.pk, by=actors.release_manager, release_type="emergency")
    except (ValidationError, TransitionError):
        return
    assert_blocked(w, "approve_plan", actors.cab_members[0], {}, {"quorum_not_reached"})


def test_cancelling_a_scheduled_release_returns_its_rfcs_to_the_pool(actors, cis):
    w = reach(actors, cis, "scheduled")
    rfcs = list(w.release.rfcs.all())
    assert {r.state for r in rfcs} == {"scheduled"}
    s.release_transition(release_id=w.release.pk, name="cancel", by=actors.release_manager, reason="Descoped.")
    assert {r.state for r in w.release.rfcs.all()} == {"authorized"}
    # ...and another release can carry them.
    again = new_release(actors, title="Second attempt", rfcs=rfcs, cis=cis)
    assert Walker(again, actors).to("scheduled").state == "scheduled"
