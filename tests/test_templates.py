"""Release templates: kept by release managers, and a release raised from one
starts with the template's activities, tests, draft plan and rollback plan."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from releasemgmt.workflow import TransitionForbidden
from releases import services as s
from releases.models import RefusedAttempt, Release, ReleaseTemplate, Task, Team, TestCase, Vendor
from releases.scenario import authorised_rfc
from releases.template_services import release_create_from_template, template_create, template_update

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture
def teams(db):
    return Team.objects.create(name="Build"), Team.objects.create(name="Ops"), Vendor.objects.create(name="Acme")


@pytest.fixture
def template(actors, teams):
    build, ops, acme = teams
    return template_create(
        by=actors.release_manager, name="Monthly minor", release_type="minor", description="The usual.",
        scope="Monthly fixes.", deployment_approach="Blue/green.", risks="Low.", teams="Build, Ops, Acme",
        downtime_expected=True, rollback_plan="Switch traffic back to blue.",
        tasks=[
            {"title": "Freeze the branch", "step": 4, "team": build, "offset_start": -48 * H,
             "offset_end": -24 * H},
            {"title": "Deploy", "step": 12, "team": ops, "offset_start": 2 * H, "offset_end": 4 * H},
            {"title": "Vendor config", "step": 12, "vendor": acme, "offset_start": 3 * H, "offset_end": 5 * H},
        ],
        test_cases=[{"name": "Smoke", "mandatory": True}, {"name": "Exploratory", "mandatory": False}],
    )


def _raise(actors, template, **fields):
    start = fields.pop("planned_start", timezone.now().replace(microsecond=0) + timedelta(days=7))
    data = {"title": "November release", "release_type": "minor", "rfcs": [authorised_rfc(actors, "Fix")],
            "planned_start": start, "planned_end": start and start + timedelta(days=1)}
    data.update(fields)
    return release_create_from_template(by=actors.release_manager, template=template, **data)


def test_release_from_template_gets_tasks_with_dates_teams_and_steps(actors, template, teams):
    build, ops, acme = teams
    release = _raise(actors, template)
    start = release.planned_start
    assert release.template == template
    tasks = {t.title: t for t in release.tasks.all()}
    assert set(tasks) == {"Freeze the branch", "Deploy", "Vendor config"}
    freeze = tasks["Freeze the branch"]
    assert (freeze.step, freeze.assignee_team, freeze.planned_start, freeze.planned_end) == (
        4, build, start - 48 * H, start - 24 * H)
    assert (tasks["Deploy"].assignee_team, tasks["Deploy"].planned_start) == (ops, start + 2 * H)
    assert tasks["Vendor config"].assignee_vendor == acme and tasks["Vendor config"].assignee_team is None
    # Written through task_create: history says who.
    assert freeze.history.first().history_user == actors.release_manager


def test_release_from_template_gets_test_cases_and_a_draft_plan(actors, template):
    release = _raise(actors, template)
    cases = {c.name: c.mandatory for c in release.test_cases.all()}
    assert cases == {"Smoke": True, "Exploratory": False}
    plan = release.current_plan
    assert (plan.version, plan.scope, plan.deployment_approach, plan.risks, plan.teams, plan.downtime_expected) == (
        1, "Monthly fixes.", "Blue/green.", "Low.", "Build, Ops, Acme", True)
    assert plan.created_by == actors.release_manager
    # The rollback plan's step is not open while the ticket is new.
    assert release.rollback_plan is None


def test_rollback_skeleton_is_written_when_planning_starts(actors, template):
    release = _raise(actors, template)
    s.release_transition(release_id=release.pk, name="start_planning", by=actors.release_manager)
    release = Release.objects.get(pk=release.pk)
    assert release.rollback_plan.content == "Switch traffic back to blue."
    assert release.rollback_plan.verification == "none"
    assert release.rollback_plan.created_by == actors.release_manager


def test_without_a_window_the_tasks_wait_for_dates(actors, template):
    release = _raise(actors, template, planned_start=None, planned_end=None)
    assert release.tasks.count() == 3
    assert not release.tasks.filter(planned_start__isnull=False).exists()


def test_template_of_another_type_is_refused_and_nothing_is_written(actors, template):
    before = (Release.objects.count(), Task.objects.count(), TestCase.objects.count())
    with pytest.raises(ValidationError) as exc:
        _raise(actors, template, release_type="major")
    assert "template" in exc.value.message_dict
    assert (Release.objects.count(), Task.objects.count(), TestCase.objects.count()) == before


def test_retired_template_is_refused(actors, template):
    template_update(template_id=template.pk, by=actors.release_manager, active=False)
    with pytest.raises(ValidationError):
        _raise(actors, template)


def test_a_failure_half_way_leaves_nothing(actors, template, monkeypatch):
    """One transaction: a refusal after the ticket and tasks are written undoes them."""
    before = (Release.objects.count(), Task.objects.count())

    def refuse(**kwargs):
        raise ValidationError({"name": "refused for the test"})

    monkeypatch.setattr(s, "record_add", refuse)
    with pytest.raises(ValidationError):
        _raise(actors, template)
    assert (Release.objects.count(), Task.objects.count()) == before


@pytest.mark.parametrize("role", ["change_manager", "cab_member", "stakeholder", "test_team"])
def test_only_a_release_manager_keeps_templates(make_user, actors, template, role):
    other = make_user(role)
    with pytest.raises(TransitionForbidden):
        template_create(by=other, name="Mine", release_type="minor")
    with pytest.raises(TransitionForbidden):
        template_update(template_id=template.pk, by=other, description="changed")
    assert RefusedAttempt.objects.filter(by=other, code="forbidden").count() == 2
    template.refresh_from_db()
    assert template.description == "The usual."


def test_only_a_release_manager_raises_from_a_template(make_user, actors, template):
    with pytest.raises(TransitionForbidden):
        release_create_from_template(by=make_user("change_manager"), template=template, title="x",
                                     release_type="minor", rfcs=[authorised_rfc(actors, "Fix")])


def test_update_edits_adds_and_removes_items_with_history(actors, template, teams):
    build, ops, _ = teams
    deploy = template.tasks.get(title="Deploy")
    smoke = template.test_cases.get(name="Smoke")
    template_update(template_id=template.pk, by=actors.release_manager, name="Monthly minor v2",
                    tasks=[{"id": deploy.pk, "title": "Deploy to prod", "offset_start": H, "offset_end": 2 * H},
                           {"title": "Health check", "step": 13, "team": ops, "offset_start": 4 * H,
                            "offset_end": 5 * H}],
                    test_cases=[{"id": smoke.pk, "mandatory": False}])
    template = ReleaseTemplate.objects.get(pk=template.pk)
    assert template.name == "Monthly minor v2"
    assert sorted(t.title for t in template.tasks.all()) == ["Deploy to prod", "Health check"]
    assert [(c.name, c.mandatory) for c in template.test_cases.all()] == [("Smoke", False)]
    removed = template.tasks.model.history.filter(title="Freeze the branch", history_type="-").get()
    assert removed.history_user == actors.release_manager


def test_bad_items_are_validation_errors(actors, template, teams):
    build, _, acme = teams
    with pytest.raises(ValidationError) as exc:
        template_update(template_id=template.pk, by=actors.release_manager,
                        tasks=[{"title": "Both", "step": 12, "team": build, "vendor": acme, "offset_start": H,
                                "offset_end": H}])
    assert "tasks" in exc.value.message_dict
    with pytest.raises(ValidationError):
        template_update(template_id=template.pk, by=actors.release_manager,
                        tasks=[{"title": "Backwards", "step": 12, "offset_start": 2 * H, "offset_end": H}])
    with pytest.raises(ValidationError):
        template_create(by=actors.release_manager, name="Monthly minor", release_type="minor")  # unique name
    with pytest.raises(ValidationError):
        template_update(template_id=template.pk, by=actors.release_manager, state="closed")
    assert template.tasks.count() == 3
