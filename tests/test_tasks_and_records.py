"""Release activities (tasks), step records, CAB votes, the RFC machine's own
rules, and ``available()`` agreeing with what the service actually does."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from changes.services import rfc_create, rfc_transition
from releasemgmt.errors import Duplicate, MethodRefused, SegregationOfDuties
from releasemgmt.workflow import (
    TransitionBlocked,
    TransitionError,
    TransitionForbidden,
    available,
    specs,
)
from releases import services as s
from releases.models import CabVote, Release, Team, TransitionLog, Vendor
from releases.scenario import Walker, authorised_rfc, new_release
from releases.services import RecordClosed, RecordRefused
from tests.helpers import grant, logs_of, reach
from tests.signatures import signature, signed

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


# --- tasks ----------------------------------------------------------------------------------


@pytest.fixture
def assignees(make_user):
    """Who may work a task: its user, a member of its team, a user of its vendor."""
    team_member = make_user("deployment_team")
    team = Team.objects.create(name="Ops", email="ops@example.test")
    team.members.add(team_member)
    vendor_user = make_user("vendor")
    vendor = Vendor.objects.create(name="Acme Payments", email="queue@acme.test")
    vendor.users.add(vendor_user)
    return {"team": (team, team_member), "vendor": (vendor, vendor_user)}


def make_task(w, *, step=12, **assignee):
    r = w.release
    return s.task_create(release_id=r.pk, by=w.rm, title="Configure payment gateway", step=step,
                         planned_start=r.planned_start + 3 * H, planned_end=r.planned_end - 3 * H, **assignee)


def task_for(kind, w, actors, assignees):
    if kind == "user":
        return make_task(w, assignee_user=actors.build_team), actors.build_team
    if kind == "team":
        team, member = assignees["team"]
        return make_task(w, assignee_team=team), member
    vendor, user = assignees["vendor"]
    return make_task(w, assignee_vendor=vendor), user


def task_go(task, name, by, **payload):
    return s.task_transition(task_id=task.pk, name=name, by=by, **payload)


@pytest.mark.parametrize("kind", ["user", "team", "vendor"])
def test_the_assignee_works_the_task_through_its_states(actors, cis, assignees, kind):
    w = reach(actors, cis, "scheduled")
    task, worker = task_for(kind, w, actors, assignees)
    steps = [("start", {}, "in_progress"), ("block", {"reason": "Waiting for firewall change."}, "blocked"),
             ("unblock", {}, "in_progress"), ("complete", {}, "done")]
    for name, payload, target in steps:
        task = task_go(task, name, worker, **payload)
        assert task.state == target
        log = logs_of(task).last()
        assert (log.name, log.target, log.by) == (name, target, worker)
        assert task.history.first().history_change_reason == name
    assert logs_of(task).get(name="block").reason == "Waiting for firewall change."


@pytest.mark.parametrize("kind", ["user", "team", "vendor"])
def test_an_assignee_may_block_an_open_task(actors, cis, assignees, kind):
    w = reach(actors, cis, "scheduled")
    task, worker = task_for(kind, w, actors, assignees)
    assert task_go(task, "block", worker, reason="Vendor licence not delivered.").state == "blocked"


@pytest.mark.parametrize("kind", ["user", "team", "vendor"])
@pytest.mark.parametrize("intruder", ["build_team", "deployment_team", "vendor", "stakeholder"])
def test_a_user_who_is_not_the_assignee_may_not_touch_the_task(actors, cis, assignees, make_user, kind, intruder):
    w = reach(actors, cis, "scheduled")
    task, worker = task_for(kind, w, actors, assignees)
    other = make_user(intruder)  # holds a worker role but is not on the task
    for name, payload in (("start", {}), ("block", {"reason": "x"}), ("cancel", {"reason": "x"})):
        with pytest.raises(TransitionForbidden):
            task_go(task, name, other, **payload)
    task.refresh_from_db()
    assert task.state == "open" and not logs_of(task).exists()


def test_another_vendors_user_may_not_touch_a_vendor_task(actors, cis, assignees, make_user):
    w = reach(actors, cis, "scheduled")
    task, _ = task_for("vendor", w, actors, assignees)
    rival = make_user("vendor")
    Vendor.objects.create(name="Rival Ltd").users.add(rival)
    with pytest.raises(TransitionForbidden):
        task_go(task, "start", rival)


def test_the_release_manager_may_work_any_task_and_alone_may_cancel(actors, cis, assignees):
    w = reach(actors, cis, "scheduled")
    task, worker = task_for("vendor", w, actors, assignees)
    with pytest.raises(TransitionForbidden):
        task_go(task, "cancel", worker, reason="Not our job.")
    assert task_go(task, "start", actors.release_manager).state == "in_progress"
    with pytest.raises(TransitionBlocked) as exc:
        task_go(task, "cancel", actors.release_manager)
    assert {b.code for b in exc.value.blockers} == {"reason_required"}
    assert task_go(task, "cancel", actors.release_manager, reason="Descoped.").state == "cancelled"


def test_blocking_a_task_needs_a_reason(actors, cis):
    w = reach(actors, cis, "scheduled")
    task = make_task(w, assignee_user=actors.deployment_team)
    with pytest.raises(TransitionBlocked) as exc:
        task_go(task, "block", actors.deployment_team, reason=" ")
    assert {b.code for b in exc.value.blockers} == {"reason_required"}
    task.refresh_from_db()
    assert task.state == "open"


@pytest.mark.parametrize("state", ["new", "planning", "plan_submitted", "plan_approved"])
def test_a_task_cannot_start_before_the_release_is_scheduled(actors, cis, state):
    w = reach(actors, cis, state)
    task = make_task(w, assignee_user=actors.deployment_team)
    with pytest.raises(TransitionBlocked) as exc:
        task_go(task, "start", actors.deployment_team)
    assert {b.code for b in exc.value.blockers} == {"release_not_active"}
    task.refresh_from_db()
    assert task.state == "open" and not logs_of(task).exists()


def test_a_task_of_a_cancelled_release_cannot_start_or_resume(actors, cis):
    w = reach(actors, cis, "scheduled")
    waiting = make_task(w, assignee_user=actors.deployment_team)
    blocked = make_task(w, assignee_user=actors.deployment_team)
    task_go(blocked, "block", actors.deployment_team, reason="Waiting.")
    w.go("cancel", actors.release_manager, reason="Withdrawn.")
    for task, name in ((waiting, "start"), (blocked, "unblock")):
        with pytest.raises(TransitionBlocked) as exc:
            task_go(task, name, actors.deployment_team)
        assert {b.code for b in exc.value.blockers} == {"release_not_active"}


def test_a_task_of_a_cancelled_release_cannot_be_completed_or_blocked_but_may_be_cancelled(actors, cis):
    w = reach(actors, cis, "scheduled")
    working = make_task(w, assignee_user=actors.deployment_team)
    waiting = make_task(w, assignee_user=actors.deployment_team)
    task_go(working, "start", actors.deployment_team)
    w.go("cancel", actors.release_manager, reason="Withdrawn.")
    for task, name, payload in ((working, "complete", {}), (waiting, "block", {"reason": "Waiting."})):
        with pytest.raises(TransitionBlocked) as exc:
            task_go(task, name, actors.deployment_team, **payload)
        assert {b.code for b in exc.value.blockers} == {"release_ended"}
        task.refresh_from_db()
        assert not logs_of(task).filter(name=name).exists()
    task_go(waiting, "cancel", actors.release_manager, reason="Release withdrawn.")
    waiting.refresh_from_db()
    assert waiting.state == "cancelled"


def test_a_task_transition_from_the_wrong_state_is_invalid_state(actors, cis):
    w = reach(actors, cis, "scheduled")
    task = make_task(w, assignee_user=actors.deployment_team)
    with pytest.raises(TransitionBlocked) as exc:
        task_go(task, "complete", actors.deployment_team)
    assert exc.value.code == "invalid_state"


def test_available_on_a_task_matches_its_assignee(actors, cis, assignees, make_user):
    w = reach(actors, cis, "scheduled")
    task, worker = task_for("vendor", w, actors, assignees)
    rows = {r["name"]: r for r in available(task, worker)}
    assert set(rows) == {"start", "block", "cancel"}
    assert rows["start"]["allowed"] and rows["block"]["allowed"] and rows["block"]["reason_required"]
    assert not rows["cancel"]["allowed"]
    assert not any(r["allowed"] for r in available(task, make_user("build_team")))


# --- step records ----------------------------------------------------------------------------

CLOSED_STEPS = [
    # (record type, release state, writer, data): each written after (or before) its step is open
    ("plans", "go", "release_manager", {"scope": "late"}),
    ("votes", "plan_approved", "cab0", {"decision": "approve"}),
    ("build_documents", "built", "build_team", {"monitoring_qa": "late"}),
    ("security_checks", "testing", "build_team", {"passed": True}),
    ("test_results", "tests_passed", "test_team", {"outcome": "passed"}),
    ("rollback_plans", "ready", "release_manager", {"content": "late", "verification": "tested"}),
    ("pre_implementation_checks", "plans_updated", "release_manager", {"description": "late", "passed": True}),
    ("environment_readiness", "go", "deployment_team", {"environment": "prod", "ready": True}),
    ("readiness_assessments", "go", "delivery_manager", {"risks": "late"}),
    ("backups", "backed_up", "release_manager", {"what": "db", "location": "vault", "verified": True}),
    ("health_checks", "verified", "release_manager", {"passed": True}),
    ("evaluations", "in_review", "change_manager", {"summary": "late"}),
    ("reviews", "succeeded", "change_manager", {"outcome": "success"}),
    ("closure_comments", "deployed", "release_manager", {"comment": "too early"}),
    ("rollback_advice", "succeeded", "delivery_manager", {"advice": "too late"}),
]


def actor(actors, key):
    return actors.cab_members[0] if key == "cab0" else getattr(actors, key)


def fill(w, record_type, data):
    from django.utils import timezone

    data = dict(data)
    if record_type == "test_results":
        data["test_case"] = w.release.test_cases.first()
    if record_type == "backups":
        data["taken_at"] = timezone.now()
    if record_type == "closure_comments":
        data["rfc"] = w.release.rfcs.first()
    return data


@pytest.mark.parametrize("record_type, state, who, data", CLOSED_STEPS, ids=[c[0] for c in CLOSED_STEPS])
def test_a_record_cannot_be_written_once_its_step_is_closed(actors, cis, record_type, state, who, data):
    w = reach(actors, cis, state)
    related = getattr(w.release, record_type)
    count = related.count()
    with pytest.raises(RecordClosed) as exc:
        w.add(record_type, actor(actors, who), **fill(w, record_type, data))
    assert exc.value.code == "invalid_state"
    assert isinstance(exc.value, TransitionBlocked) and exc.value.status == 409
    assert {b.code for b in exc.value.blockers} == {"step_closed"}
    assert related.count() == count


REFUSED = [
    ("plans", "planning", "test_team", {"scope": "x"}),
    ("plans", "planning", "cab0", {"scope": "x"}),
    ("votes", "plan_submitted", "stakeholder", {"decision": "approve"}),
    ("votes", "plan_submitted", "change_manager", {"decision": "approve"}),
    ("security_checks", "building", "test_team", {"passed": True}),
    ("test_results", "testing", "build_team", {"outcome": "passed"}),
    ("evaluations", "verified", "release_manager", {"summary": "x"}),
    ("reviews", "in_review", "release_manager", {"outcome": "success"}),
    ("rollback_advice", "deployed", "release_manager", {"advice": "x"}),
    ("go_decisions", "ready", "delivery_manager", {"decision": "go"}),
    ("deployments", "backed_up", "deployment_team", {}),
]


@pytest.mark.parametrize("record_type, state, who, data", REFUSED, ids=[f"{c[0]}-{c[2]}" for c in REFUSED])
def test_a_record_is_refused_to_a_role_not_among_its_writers(actors, cis, make_user, record_type, state, who, data):
    w = reach(actors, cis, state)
    user = actor(actors, who) if who in ("cab0", "release_manager", "change_manager", "test_team", "build_team",
                                         "delivery_manager", "deployment_team") else make_user(who)
    related = getattr(w.release, record_type)
    count = related.count()
    with pytest.raises(RecordRefused) as exc:
        w.add(record_type, user, **fill(w, record_type, data))
    assert isinstance(exc.value, TransitionForbidden) and exc.value.status == 403
    assert related.count() == count


@pytest.mark.parametrize("record_type, state, who, data, change", [
    ("plans", "planning", "release_manager", {"scope": "v1"}, {"scope": "rewritten"}),
    ("votes", "plan_submitted", "cab0", {"decision": "approve"}, {"decision": "reject"}),
    ("security_checks", "building", "build_team", {"passed": False}, {"passed": True}),
    ("health_checks", "deployed", "release_manager", {"passed": False}, {"passed": True}),
    ("reviews", "in_review", "change_manager", {"outcome": "rollback_required"}, {"outcome": "success"}),
], ids=["plan", "cab_vote", "security_check", "health_check", "pir"])
def test_an_immutable_record_cannot_be_edited(actors, cis, record_type, state, who, data, change):
    w = reach(actors, cis, state)
    if record_type == "plans":
        w.plan()
    record = w.add(record_type, actor(actors, who), **data)
    with pytest.raises(MethodRefused) as exc:
        s.record_update(record=record, by=actor(actors, who), **change)
    assert (exc.value.status, exc.value.code) == (405, "immutable")
    assert {b.code for b in exc.value.blockers} == {"immutable"}
    record.refresh_from_db()
    for key, value in data.items():
        assert getattr(record, key) == value


def test_a_mutable_record_is_edited_while_its_step_is_open_only(actors, cis):
    w = reach(actors, cis, "building")
    doc = w.add("build_documents", actors.build_team, build_install_test_plans="make")
    doc = s.record_update(record=doc, by=actors.release_manager, monitoring_qa="Dashboards.",
                          deployment_procedures="deploy.yml", rollback_procedures="Redeploy previous.",
                          remediation_steps="Page on-call.")
    assert doc.monitoring_qa == "Dashboards." and doc.missing_parts() == []
    assert doc.history.count() == 2
    with pytest.raises(RecordRefused):
        s.record_update(record=doc, by=actors.test_team, monitoring_qa="nope")
    w.to("built")
    with pytest.raises(RecordClosed) as exc:
        s.record_update(record=doc, by=actors.release_manager, monitoring_qa="too late")
    assert exc.value.code == "invalid_state"


# --- CAB votes ---------------------------------------------------------------------------------


def test_a_cab_member_votes_once_per_plan_version(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    member = actors.cab_members[0]
    first = w.add("votes", member, decision="approve")
    assert first.plan == w.release.current_plan
    with pytest.raises(Duplicate) as exc:
        w.add("votes", member, decision="reject")
    assert (exc.value.status, exc.value.code) == (409, "duplicate")
    assert {b.code for b in exc.value.blockers} == {"already_voted"}
    assert CabVote.objects.filter(created_by=member).count() == 1
    # a new version of the plan opens a new vote
    v2 = w.plan()
    again = w.add("votes", member, decision="approve")
    assert again.plan == v2


def test_the_release_manager_and_rfc_requesters_may_not_vote(actors, cis, make_user):
    requester = make_user("cab_member")
    rfc = authorised_rfc(actors, "Requested by a CAB member", requester=requester)
    w = Walker(new_release(actors, rfcs=[rfc], cis=cis), actors)
    w.to("plan_submitted")
    for conflicted in (requester, grant(actors.release_manager, "cab_member")):
        with pytest.raises(SegregationOfDuties):
            w.add("votes", conflicted, decision="approve")
    assert not w.release.votes.exists()


def test_a_vote_always_counts_for_the_current_version(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    v1 = w.release.current_plan
    v2 = w.plan()
    # a voter cannot pick an older version to vote on ...
    try:
        vote = w.add("votes", actors.cab_members[0], decision="approve", plan=v1)
    except ValidationError:
        vote = w.add("votes", actors.cab_members[0], decision="approve")
    # ... the vote is always on the version in front of the CAB now
    assert vote.plan == v2


# --- the RFC machine --------------------------------------------------------------------------


def test_a_requester_holding_change_manager_cannot_assess_or_authorise_their_own_rfc(actors, make_user):
    requester = make_user("change_manager")
    rfc = rfc_create(by=requester, title="My own change", description="Mine.")
    for name, payload in (("assess", {}), ("reject", {"reason": "meh"})):
        with pytest.raises(SegregationOfDuties) as exc:
            rfc_transition(rfc_id=rfc.pk, name=name, by=requester, **payload)
        assert {b.code for b in exc.value.blockers} == {"segregation_of_duties"}
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    with pytest.raises(SegregationOfDuties) as exc:
        rfc_transition(rfc_id=rfc.pk, name="authorize", by=requester)
    assert {b.code for b in exc.value.blockers} == {"segregation_of_duties"}
    rfc.refresh_from_db()
    assert rfc.state == "assessed"
    assert rfc_transition(rfc_id=rfc.pk, name="authorize", by=actors.change_manager,
                          signature=signature()).state == "authorized"


INTERNAL_RFC = [("schedule", "authorized"), ("implement", "scheduled"), ("review", "implemented"),
                ("fail", "scheduled"), ("close", "reviewed")]


def rfc_in(state, actors, cis):
    """An RFC standing in ``state``, moved there the way its release moves it."""
    from releasemgmt.workflow import run_transition

    rfc = authorised_rfc(actors, f"RFC standing in {state}")
    path = {"authorized": [], "scheduled": ["schedule"], "implemented": ["schedule", "implement"],
            "reviewed": ["schedule", "implement", "review"]}[state]
    for step in path:
        run_transition(type(rfc), rfc.pk, step, by=None, system=True)
    rfc.refresh_from_db()
    assert rfc.state == state
    return rfc


@pytest.mark.parametrize("name, state", INTERNAL_RFC, ids=[n for n, _ in INTERNAL_RFC])
def test_rfc_transitions_driven_by_the_release_are_refused_to_users(actors, cis, django_user_model, name, state):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.test", "pw")
    rfc = rfc_in(state, actors, cis)
    logs = TransitionLog.objects.count()
    for user in (actors.change_manager, actors.release_manager, actors.cab_members[0], admin):
        with pytest.raises(TransitionForbidden) as exc:
            rfc_transition(rfc_id=rfc.pk, name=name, by=user)
        assert "performed by the process itself" in exc.value.detail
    rfc.refresh_from_db()
    assert rfc.state == state
    assert TransitionLog.objects.count() == logs
    assert name not in {row["name"] for row in available(rfc, actors.change_manager)}


def test_an_rfc_in_an_active_release_cannot_be_cancelled(actors, cis):
    w = reach(actors, cis, "planning")
    rfc = w.release.rfcs.get()
    with pytest.raises(TransitionBlocked) as exc:
        rfc_transition(rfc_id=rfc.pk, name="cancel", by=actors.change_manager, reason="Not needed.")
    assert {b.code for b in exc.value.blockers} == {"in_active_release"}
    w.go("cancel", actors.release_manager, reason="Withdrawn.")
    assert rfc_transition(rfc_id=rfc.pk, name="cancel", by=actors.change_manager, reason="Not needed.").state == \
        "cancelled"


# --- available() agrees with release_transition --------------------------------------------


def outcome(release, name, user, payload):
    """What release_transition does now, rolled back afterwards."""
    sid = transaction.savepoint()
    try:
        s.release_transition(release_id=release.pk, name=name, by=user, **signed(Release, name, payload))
        return "allowed", set()
    except SegregationOfDuties as exc:
        return "segregation_of_duties", {b.code for b in exc.blockers}
    except TransitionForbidden:
        return "forbidden", set()
    except TransitionBlocked as exc:
        return "blocked", {b.code for b in exc.blockers}
    finally:
        transaction.savepoint_rollback(sid)


def prepare_state(w, situation):
    a = w.a
    if situation == "planning+plan":
        w.plan()
    elif situation == "plan_submitted+1vote":
        w.add("votes", a.cab_members[0], decision="approve")
    elif situation == "plan_submitted+2votes":
        for m in a.cab_members[:2]:
            w.add("votes", m, decision="approve")
    elif situation == "ready+assessed":
        w.add("readiness_assessments", a.delivery_manager, risks="Low.")
    elif situation == "deployed+advice":
        w.add("rollback_advice", a.change_manager, advice="Roll back.")
        w.add("health_checks", w.rm, passed=True)


SITUATIONS = {
    "new": "new", "planning": "planning", "planning+plan": "planning", "plan_submitted+1vote": "plan_submitted",
    "plan_submitted+2votes": "plan_submitted", "ready": "ready", "ready+assessed": "ready",
    "backed_up": "backed_up", "deployed+advice": "deployed", "in_review": "in_review", "succeeded": "succeeded",
    "rolling_back": "rolling_back",
}


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_available_matches_what_release_transition_does(actors, cis, make_user, situation):
    state = SITUATIONS[situation]
    w = Walker(new_release(actors, cis=cis), actors)
    w.to(state, rollback_from="deployed" if state == "rolling_back" else None)
    prepare_state(w, situation)
    users = {
        "release_manager": actors.release_manager, "change_manager": actors.change_manager,
        "cab_member": actors.cab_members[2], "delivery_manager": actors.delivery_manager,
        "deployment_team": actors.deployment_team, "stakeholder": actors.requester,
        "rm+delivery_manager": grant(make_user("release_manager"), "delivery_manager"),
    }
    expected_names = {n for n, spec in specs(Release).items() if state in spec.sources and not spec.internal}
    release = Release.objects.get(pk=w.release.pk)
    for label, user in users.items():
        rows = available(Release.objects.get(pk=release.pk), user)
        assert {r["name"] for r in rows} == expected_names
        for row in rows:
            # What the row requires (the signature is added by ``signed``).
            payload = {field: "Because." for field in row["requires"] if field != "signature"}
            assert ("reason" in row["requires"]) == row["reason_required"]
            assert ("signature" in row["requires"]) == row["signature_required"]
            got, codes = outcome(release, row["name"], user, payload)
            shown = {b["code"] for b in row["blockers"]}
            where = (situation, label, row["name"], row["blockers"])
            assert row["target"] == specs(Release)[row["name"]].target
            if row["allowed"]:
                assert (got, shown) == ("allowed", set()), where
            elif "role_forbidden" in shown:
                assert got == "forbidden", where
            elif "segregation_of_duties" in shown:
                assert (got, codes) == ("segregation_of_duties", {"segregation_of_duties"}), where
            else:
                assert (got, codes) == ("blocked", shown), where
    assert Release.objects.get(pk=release.pk).state == state


# --- regressions: bugs found while writing these tests (fixed in the working tree) -----------


def test_record_update_cannot_rewrite_who_wrote_a_record(actors, cis):
    w = reach(actors, cis, "building")
    doc = w.add("build_documents", actors.build_team, build_install_test_plans="make")
    with pytest.raises((ValidationError, TransitionError)):
        s.record_update(record=doc, by=actors.release_manager, created_by=actors.cab_members[0])
    doc.refresh_from_db()
    assert doc.created_by == actors.build_team


def test_record_add_with_an_unknown_field_is_a_validation_error(actors, cis):
    w = reach(actors, cis, "building")
    with pytest.raises(ValidationError):
        w.add("prerequisite_checks", actors.build_team, description="x", verified=True, colour="blue")


# --- bugs found while writing these tests, now fixed -------------------------------------------


def test_an_anonymous_user_is_refused_by_task_update(actors, cis, assignees):
    from django.contrib.auth.models import AnonymousUser

    w = reach(actors, cis, "scheduled")
    task, _ = task_for("vendor", w, actors, assignees)
    with pytest.raises(RecordRefused):
        s.task_update(task_id=task.pk, by=AnonymousUser(), description="anonymous was here")


def test_task_update_refuses_the_state_field_cleanly(actors, cis):
    w = reach(actors, cis, "scheduled")
    task = make_task(w, assignee_user=actors.deployment_team)
    with pytest.raises((ValidationError, TransitionError)):
        s.task_update(task_id=task.pk, by=actors.release_manager, state="done")


def test_task_update_cannot_move_a_task_to_another_release(actors, cis):
    w = reach(actors, cis, "scheduled")
    task = make_task(w, assignee_user=actors.deployment_team)
    other = new_release(actors, title="Another release", cis=[])
    with pytest.raises((ValidationError, TransitionError)):
        s.task_update(task_id=task.pk, by=actors.release_manager, release=other)
    task.refresh_from_db()
    assert task.release_id == w.release.pk


def test_record_update_keeps_a_closure_comment_on_an_rfc_of_its_release(actors, cis):
    w = reach(actors, cis, "succeeded")
    comment = w.add("closure_comments", actors.release_manager, rfc=w.release.rfcs.first(), comment="Done.")
    stranger = authorised_rfc(actors, "Unrelated change")
    with pytest.raises(ValidationError):
        s.record_update(record=comment, by=actors.release_manager, rfc=stranger)
    comment.refresh_from_db()
    assert comment.rfc_id != stranger.pk


def test_release_update_refuses_a_rejected_rfc(actors, cis):
    release = new_release(actors, cis=cis)
    rejected = rfc_create(by=actors.requester, title="No", description="Rejected.")
    rfc_transition(rfc_id=rejected.pk, name="reject", by=actors.change_manager, reason="Out of scope.",
                   signature=signature())
    with pytest.raises(ValidationError):
        s.release_update(release_id=release.pk, by=actors.release_manager, rfcs=[rejected])
    assert list(release.rfcs.values_list("state", flat=True)) == ["authorized"]
