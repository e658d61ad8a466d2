"""Django admin for release templates and problem records: through the services."""
from datetime import timedelta

import pytest
from django.urls import reverse

from changes.models import Problem
from releases.models import ReleaseTemplate, Team
from releases.scenario import Walker, new_release

pytestmark = pytest.mark.django_db


def _inline(prefix, total=0, initial=0):
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def test_release_manager_adds_a_template_with_items_in_the_admin(client, make_user):
    rm = make_user("release_manager", is_staff=True)
    team = Team.objects.create(name="Ops")
    client.force_login(rm)
    data = {"name": "Monthly", "release_type": "minor", "active": "on", "rollback_plan": "Redeploy n-1.",
            **_inline("tasks", 1), **_inline("test_cases", 1),
            "tasks-0-title": "Deploy", "tasks-0-step": "12", "tasks-0-team": str(team.pk),
            "tasks-0-offset_start": "-01:00:00", "tasks-0-offset_end": "02:00:00",
            "test_cases-0-name": "Smoke", "test_cases-0-mandatory": "on"}
    response = client.post(reverse("admin:releases_releasetemplate_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    template = ReleaseTemplate.objects.get()
    assert template.created_by == rm
    task = template.tasks.get()
    assert (task.team, task.offset_start, task.offset_end) == (team, -timedelta(hours=1), timedelta(hours=2))
    assert task.history.first().history_user == rm
    assert template.test_cases.get().name == "Smoke"

    change = reverse("admin:releases_releasetemplate_change", args=[template.pk])
    assert client.get(change).status_code == 200
    data.update({**_inline("tasks", 1, 1), **_inline("test_cases", 1, 1), "tasks-0-id": str(task.pk),
                 "tasks-0-template": str(template.pk), "tasks-0-DELETE": "on",
                 "test_cases-0-id": str(template.test_cases.get().pk), "test_cases-0-template": str(template.pk)})
    assert client.post(change, data).status_code == 302
    assert not template.tasks.exists() and template.test_cases.count() == 1


def test_other_roles_cannot_edit_templates_in_the_admin(client, make_user):
    cm = make_user("change_manager", is_staff=True)
    client.force_login(cm)
    assert client.get(reverse("admin:releases_releasetemplate_add")).status_code == 403
    assert client.get(reverse("admin:releases_releasetemplate_changelist")).status_code == 200


def test_problem_opened_and_moved_in_the_admin(client, make_user, actors, cis):
    release = Walker(new_release(actors, cis=cis), actors).to("rolled_back", rollback_from="deployed")
    cm = make_user("change_manager", is_staff=True)
    client.force_login(cm)
    response = client.post(reverse("admin:changes_problem_add"), {"release": release.pk, "title": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    problem = Problem.objects.get()
    assert problem.created_by == cm and "Complete rollback: Rolling back → Rolled back" in problem.timeline
    change = reverse("admin:changes_problem_change", args=[problem.pk])
    assert client.get(change).status_code == 200
    client.post(change, {"title": problem.title, "description": "", "root_cause": "Pool.",
                         "corrective_actions": ""})
    client.post(reverse("admin:changes_problem_transition", args=[problem.pk, "identify_root_cause"]))
    problem.refresh_from_db()
    assert (problem.root_cause, problem.state) == ("Pool.", "root_cause_known")
    # A second one for the same release is a form error, not a 500.
    again = client.post(reverse("admin:changes_problem_add"), {"release": release.pk, "title": ""})
    assert again.status_code == 200 and Problem.objects.count() == 1
