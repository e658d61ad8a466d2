"""Problem records: root cause analysis of a rolled-back release."""
import pytest

from changes.models import Problem
from changes.services import problem_create_from_release, problem_offered, problem_transition, problem_update
from releasemgmt.workflow import TransitionBlocked, TransitionForbidden
from releases.models import RefusedAttempt
from releases.scenario import Walker, new_release

pytestmark = pytest.mark.django_db


def test_problem_is_prefilled_with_the_release_timeline_and_rfcs(actors, rolled_back):
    problem = problem_create_from_release(release_id=rolled_back.pk, by=actors.release_manager)
    assert problem.number.startswith("PRB-")
    assert problem.state == "open"
    assert problem.release == rolled_back
    assert set(problem.rfcs.all()) == set(rolled_back.rfcs.all())
    assert "Orders 2.4" in problem.title
    timeline = problem.timeline.splitlines()
    # In the words of the release page: transition titles and state labels, not their code names.
    titles = ["Start planning", "Submit plan to CAB", "Start deployment", "Complete deployment", "Rollback",
              "Complete rollback"]
    positions = [next(i for i, line in enumerate(timeline) if f"  {title}:" in line) for title in titles]
    assert positions == sorted(positions), "transitions in the order they happened"
    assert any("Rollback: Deployed → Rolling back, by rm" in line for line in timeline)
    assert not any("start_planning" in line or "rolling_back" in line for line in timeline)
    assert any("Rollback advised: Error rate above threshold" in line and "by dm" in line for line in timeline)
    assert any("Deployment started by deployer" in line for line in timeline)
    assert problem.history.first().history_user == actors.release_manager


def test_the_release_gets_a_problem_reference(actors, rolled_back):
    problem = problem_create_from_release(release_id=rolled_back.pk, by=actors.change_manager)
    ref = rolled_back.problem_references.get()
    assert (ref.reference, ref.created_by) == (problem.number, actors.change_manager)


def test_a_release_closed_after_its_rollback_may_still_get_one(actors, rolled_back):
    release = Walker(rolled_back, actors).to("closed")
    assert problem_offered(release, actors.release_manager)
    problem = problem_create_from_release(release_id=release.pk, by=actors.release_manager)
    assert "Close: Rolled back → Closed" in problem.timeline
    assert not release.problem_references.exists()  # step 17 has passed; the problem itself links back


@pytest.mark.parametrize("state", ["new", "deployed", "succeeded"])
def test_only_a_rolled_back_release_offers_a_problem(actors, cis, state):
    release = Walker(new_release(actors, cis=cis), actors).to(state)
    assert not problem_offered(release, actors.release_manager)
    with pytest.raises(TransitionBlocked) as exc:
        problem_create_from_release(release_id=release.pk, by=actors.release_manager)
    assert exc.value.code == "invalid_state" and exc.value.blockers[0].code == "not_rolled_back"
    assert not Problem.objects.exists()


def test_one_problem_per_release(actors, rolled_back):
    first = problem_create_from_release(release_id=rolled_back.pk, by=actors.release_manager)
    with pytest.raises(TransitionBlocked) as exc:
        problem_create_from_release(release_id=rolled_back.pk, by=actors.change_manager)
    assert exc.value.code == "duplicate" and exc.value.blockers[0].code == "problem_exists"
    assert first.number in exc.value.detail
    assert Problem.objects.count() == 1


@pytest.mark.parametrize("role", ["cab_member", "delivery_manager", "stakeholder", "deployment_team"])
def test_only_release_or_change_managers_open_and_edit_problems(make_user, actors, rolled_back, role):
    other = make_user(role)
    assert not problem_offered(rolled_back, other)
    with pytest.raises(TransitionForbidden):
        problem_create_from_release(release_id=rolled_back.pk, by=other)
    problem = problem_create_from_release(release_id=rolled_back.pk, by=actors.release_manager)
    with pytest.raises(TransitionForbidden):
        problem_update(problem_id=problem.pk, by=other, root_cause="guess")
    with pytest.raises(TransitionForbidden):
        problem_transition(problem_id=problem.pk, name="identify_root_cause", by=other)
    assert RefusedAttempt.objects.filter(by=other).count() == 3


def test_analysis_moves_the_problem_to_closed(actors, rolled_back):
    problem = problem_create_from_release(release_id=rolled_back.pk, by=actors.release_manager)
    with pytest.raises(TransitionBlocked) as exc:
        problem_transition(problem_id=problem.pk, name="identify_root_cause", by=actors.change_manager)
    assert exc.value.blockers[0].code == "root_cause_missing"
    problem_update(problem_id=problem.pk, by=actors.change_manager, root_cause="Connection pool too small.")
    problem = problem_transition(problem_id=problem.pk, name="identify_root_cause", by=actors.change_manager)
    assert problem.state == "root_cause_known"
    with pytest.raises(TransitionBlocked):
        problem_transition(problem_id=problem.pk, name="close", by=actors.change_manager)
    problem_update(problem_id=problem.pk, by=actors.change_manager, corrective_actions="Size the pool; load test.")
    problem = problem_transition(problem_id=problem.pk, name="close", by=actors.change_manager)
    assert problem.state == "closed"
    with pytest.raises(TransitionBlocked):
        problem_update(problem_id=problem.pk, by=actors.change_manager, root_cause="rewritten")
    reasons = [h.history_change_reason for h in problem.history.order_by("history_id")]
    assert reasons[0] == "create"  # (the RFCs are recorded in a second "create" row)
    assert reasons[-4:] == ["update", "identify_root_cause", "update", "close"]
