"""The whole process, end to end, for each release type, and the rollback
path: what the 20 steps leave behind (log, RFCs, CMDB, baselines, records)."""
import pytest
from django.core.exceptions import ValidationError

from changes.models import ChangeRequest
from cmdb.models import Baseline, BaselineItem, ConfigurationItem
from cmdb.services import ci_set_version
from releases.models import TransitionLog
from releases.scenario import Walker, authorised_rfc, new_release
from tests.helpers import logs_of

pytestmark = pytest.mark.django_db

MAIN_LINE = ["start_planning", "submit_plan", "approve_plan", "schedule", "start_packaging", "start_build",
             "complete_build", "start_testing", "pass_tests", "update_plans", "prepare", "approve_go",
             "record_backup", "start_deployment", "complete_deployment", "verify_deployment", "evaluate",
             "start_review", "accept", "close"]
ROLLBACK_FROM_DEPLOYED = MAIN_LINE[: MAIN_LINE.index("verify_deployment")] + ["rollback", "complete_rollback",
                                                                              "close"]


def release_log(release):
    return list(logs_of(release).order_by("at", "id"))


def rfc_states(release):
    return {rfc.state for rfc in ChangeRequest.objects.filter(releases=release)}


def versions(ci_list):
    return {ci.name: ci.version for ci in ConfigurationItem.objects.filter(pk__in=[c.pk for c in ci_list])}


@pytest.mark.parametrize("release_type", ["minor", "major", "emergency"])
def test_the_happy_path_runs_all_twenty_steps(actors, cis, release_type):
    rfcs = [authorised_rfc(actors, "Faster checkout"), authorised_rfc(actors, "New payment provider")]
    release = new_release(actors, release_type=release_type, cis=cis, rfcs=rfcs)
    before = versions(cis)
    targets = {item.ci.name: item.target_version for item in release.scope_items.select_related("ci")}
    assert targets == {"orders-api": "2.4", "orders-db": "14.2"}
    w = Walker(release, actors)

    # step 3: the release drives its RFCs to scheduled
    w.to("plan_approved")
    assert rfc_states(release) == {"authorized"}
    w.to("scheduled")
    assert rfc_states(release) == {"scheduled"}

    # step 5: the restore point holds the versions before the release
    w.to("built")
    pre = w.release.pre_release_baseline
    assert (pre.kind, pre.state) == ("pre_release", "captured")
    assert {i.name: i.version for i in pre.items.all()} == before

    # steps 12 to 16
    w.to("succeeded")
    assert rfc_states(release) == {"reviewed"}
    release = w.to("closed")

    # the log is the 20 steps, in order, each from where the previous left off
    log = release_log(release)
    assert [entry.name for entry in log] == MAIN_LINE
    assert log[0].source == "new" and log[-1].target == "closed"
    assert all(a.target == b.source for a, b in zip(log, log[1:]))
    assert [h.history_change_reason for h in release.history.order_by("history_date", "history_id")
            if h.history_change_reason not in ("create", "update")] == MAIN_LINE

    # step 19: RFCs closed with the release's closure comments
    for rfc in ChangeRequest.objects.filter(releases=release):
        assert rfc.state == "closed"
        assert rfc.closure_comments == f"Closed with {release.number}."
        assert [h.state for h in rfc.history.order_by("history_date", "history_id")][-6:] == \
            ["assessed", "authorized", "scheduled", "implemented", "reviewed", "closed"]

    # step 20: the CMDB runs the target versions, and a post-release baseline says so
    assert versions(cis) == targets
    post = Baseline.objects.get(release=release, kind="post_release")
    assert post.state == "captured" and post.captured_at is not None
    assert {i.name: i.version for i in post.items.all()} == targets
    assert {i.name: i.version for i in pre.items.all()} == before  # the restore point is untouched

    # step 2 and 8: the CAB voted on the approved plan; the revision sits beside it
    approved = release.approved_plan
    assert approved.version == 1 and approved.created_in_state == "planning"
    quorum = 1 if release_type == "emergency" else 2
    assert approved.votes.filter(decision="approve").count() == quorum
    assert set(release.votes.values_list("plan_id", flat=True)) == {approved.pk}
    assert release.current_plan.version == 2 and release.current_plan.created_in_state == "tests_passed"
    assert list(release.plans.order_by("version").values_list("version", flat=True)) == [1, 2]

    # step 10: one Go decision, by the decider the type calls for
    decision = release.go_decisions.get()
    assert decision.decision == "go"
    expected_decider = actors.change_manager if release_type == "major" else actors.delivery_manager
    assert decision.created_by == expected_decider
    assert TransitionLog.objects.get(object_id=release.pk, content_type__model="release",
                                     name="approve_go").by == expected_decider

    # step 12: the deployment record, started and completed
    deployment = release.deployments.get()
    assert deployment.started_at is not None and deployment.completed_at is not None
    assert deployment.started_at <= deployment.completed_at
    assert deployment.created_by == actors.deployment_team

    # step 3 tasks all finished
    assert set(release.tasks.values_list("state", flat=True)) <= {"done", "cancelled"}


def test_the_rollback_path_restores_the_pre_release_baseline(actors, cis):
    rfcs = [authorised_rfc(actors, "Faster checkout"), authorised_rfc(actors, "New payment provider")]
    release = new_release(actors, cis=cis, rfcs=rfcs)
    before = versions(cis)
    targets = {item.ci.name: item.target_version for item in release.scope_items.select_related("ci")}
    w = Walker(release, actors)
    w.to("deployed")
    # the deployment put the new versions live (as discovery would record them)
    for item in release.scope_items.select_related("ci"):
        ci_set_version(ci=item.ci, version=item.target_version, by=actors.configuration_manager, reason="deployed")
    assert versions(cis) == targets

    w.to("rolled_back", rollback_from="deployed")
    # step 17: services restored to the pre-release baseline, not the target versions
    assert versions(cis) == before
    assert versions(cis) != targets
    # step 18: the RFCs failed
    assert rfc_states(release) == {"failed"}

    release = w.to("closed")
    assert [e.name for e in release_log(release)] == ROLLBACK_FROM_DEPLOYED
    for rfc in ChangeRequest.objects.filter(releases=release):
        assert rfc.state == "closed"
        assert rfc.closure_comments == f"Closed with {release.number}."
    # step 20: a restored baseline, no post-release one; CIs keep the restored versions
    assert versions(cis) == before
    restored = Baseline.objects.get(release=release, kind="restored")
    assert restored.state == "captured"
    assert {i.name: i.version for i in restored.items.all()} == before
    assert not Baseline.objects.filter(release=release, kind="post_release").exists()
    # the rollback was advised by the delivery manager and authorised by the release manager
    advice = release.rollback_advice.get()
    assert advice.created_by == actors.delivery_manager
    assert TransitionLog.objects.get(object_id=release.pk, content_type__model="release",
                                     name="rollback").by == actors.release_manager


@pytest.mark.parametrize("rollback_from", ["deploying", "verified", "evaluated", "in_review"])
def test_rollback_from_any_live_state_ends_closed_with_failed_rfcs_closed(actors, cis, rollback_from):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("rolled_back", rollback_from=rollback_from)
    assert rfc_states(release) == {"failed"}
    release = w.to("closed")
    names = [e.name for e in release_log(release)]
    assert names[-3:] == ["rollback", "complete_rollback", "close"]
    assert rfc_states(release) == {"closed"}
    assert Baseline.objects.filter(release=release, kind="restored", state="captured").count() == 1


def test_failed_tests_send_the_release_back_to_build_and_it_can_still_succeed(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("testing")
    smoke = release.test_cases.order_by("pk").first()
    w.add("test_results", actors.test_team, test_case=smoke, outcome="failed")
    w.go("fail_tests", actors.release_manager)
    assert w.release.state == "building"
    release = w.to("closed")
    names = [e.name for e in release_log(release)]
    assert names[names.index("start_testing"):names.index("pass_tests") + 1] == \
        ["start_testing", "fail_tests", "complete_build", "start_testing", "pass_tests"]
    # one pre-release baseline only, captured at the first build
    assert Baseline.objects.filter(release=release, kind="pre_release").count() == 1


def test_a_no_go_loops_back_to_plans_updated_and_the_next_go_succeeds(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("ready")
    w.add("readiness_assessments", actors.delivery_manager, risks="Incident open.", recommendation="Wait.")
    w.go("no_go", actors.delivery_manager, reason="Severity-1 incident on the platform.")
    assert w.release.state == "plans_updated"
    release = w.to("closed")
    assert list(release.go_decisions.order_by("pk").values_list("decision", "reason")) == [
        ("no_go", "Severity-1 incident on the platform."), ("go", "")]


def test_a_rejected_plan_goes_back_to_planning_and_a_new_version_is_approved(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("plan_submitted")
    w.add("votes", actors.cab_members[0], decision="reject", comment="Rollout too fast.")
    w.go("reject_plan", actors.cab_members[0], reason="Rollout too fast.")
    assert w.release.state == "planning"
    w.plan()  # version 2 answers the CAB
    release = w.to("plan_approved")
    assert release.approved_plan.version == 2
    assert release.approved_plan.votes.filter(decision="approve").count() == 2


# --- baselines are evidence --------------------------------------------------------------


@pytest.fixture
def captured_baseline(actors, cis):
    w = Walker(new_release(actors, cis=cis), actors)
    w.to("built")
    return w.release.pre_release_baseline


def test_a_captured_baseline_item_cannot_be_saved(captured_baseline):
    item = captured_baseline.items.first()
    item.version = "99.0"
    with pytest.raises(ValidationError):
        item.save()
    assert BaselineItem.objects.get(pk=item.pk).version != "99.0"


def test_a_captured_baseline_item_cannot_be_deleted(captured_baseline):
    item = captured_baseline.items.first()
    with pytest.raises(ValidationError):
        item.delete()
    assert BaselineItem.objects.filter(pk=item.pk).exists()


def test_no_item_can_be_added_to_a_captured_baseline(captured_baseline):
    ci = ConfigurationItem.objects.create(name="late-ci", version="1.0")
    with pytest.raises(ValidationError):
        BaselineItem.objects.create(baseline=captured_baseline, ci=ci, name=ci.name, version=ci.version,
                                    status=ci.status)


def test_a_ci_version_change_does_not_touch_captured_baselines(captured_baseline, actors):
    item = captured_baseline.items.first()
    ci_set_version(ci=item.ci, version="77.0", by=actors.configuration_manager, reason="hotfix")
    assert BaselineItem.objects.get(pk=item.pk).version == item.version


def test_a_captured_baseline_itself_cannot_be_edited(captured_baseline):
    captured_baseline.name = "renamed"
    captured_baseline.kind = "manual"
    with pytest.raises(ValidationError):
        captured_baseline.save()


def test_a_captured_baseline_cannot_be_deleted(captured_baseline):
    with pytest.raises(ValidationError):
        captured_baseline.delete()
    assert Baseline.objects.filter(pk=captured_baseline.pk).exists()
