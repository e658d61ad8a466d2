"""Browser UI (Django test client): release template pages, the template
choice when raising a release, and the problem record pages."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from changes.models import Problem
from releases.models import Release, ReleaseTemplate, Team
from releases.scenario import Walker, authorised_rfc, new_release
from releases.template_services import template_create

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def _management(prefix, total, initial=0):
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _form(team, **over):
    data = {"name": "Hot fix", "release_type": "emergency", "active": "on", "scope": "One fix.",
            "rollback_plan": "Revert the commit.", **_management("tasks", 2), **_management("tests", 1),
            "tasks-0-title": "Deploy", "tasks-0-step": "12", "tasks-0-team": str(team.pk),
            "tasks-0-start_hours": "1.5", "tasks-0-end_hours": "2",
            "tasks-1-title": "Prepare", "tasks-1-step": "9", "tasks-1-start_hours": "-24",
            "tasks-1-end_hours": "-23", "tests-0-name": "Smoke", "tests-0-mandatory": "on"}
    data.update(over)
    return data


def test_release_manager_defines_a_template_with_its_items(login, actors):
    team = Team.objects.create(name="Ops")
    client = login(actors.release_manager)
    assert client.get(reverse("releases:template_create")).status_code == 200
    response = client.post(reverse("releases:template_create"), _form(team))
    assert response.status_code == 302, response.content.decode()[:2000]
    template = ReleaseTemplate.objects.get(name="Hot fix")
    deploy = template.tasks.get(title="Deploy")
    assert (deploy.team, deploy.offset_start, deploy.offset_end) == (team, 1.5 * H, 2 * H)
    assert template.tasks.get(title="Prepare").offset_start == -24 * H
    assert [(c.name, c.mandatory) for c in template.test_cases.all()] == [("Smoke", True)]
    assert template.history.first().history_user == actors.release_manager

    page = client.get(reverse("releases:templates")).content.decode()
    assert "Hot fix" in page and reverse("releases:template_edit", args=[template.pk]) in page
    edit = client.get(reverse("releases:template_edit", args=[template.pk])).content.decode()
    assert 'value="-24"' in edit and 'value="1.5"' in edit


def test_editing_removes_and_changes_items(login, actors):
    team = Team.objects.create(name="Ops")
    template = template_create(by=actors.release_manager, name="Monthly", release_type="minor",
                               tasks=[{"title": "A", "step": 4, "offset_start": H, "offset_end": 2 * H},
                                      {"title": "B", "step": 12, "offset_start": H, "offset_end": 2 * H}])
    a, b = template.tasks.order_by("title")
    data = {"name": "Monthly", "release_type": "minor", **_management("tasks", 2, 2), **_management("tests", 0),
            "tasks-0-id": str(a.pk), "tasks-0-title": "A2", "tasks-0-step": "4", "tasks-0-team": str(team.pk),
            "tasks-0-start_hours": "1", "tasks-0-end_hours": "3",
            "tasks-1-id": str(b.pk), "tasks-1-title": "B", "tasks-1-step": "12", "tasks-1-start_hours": "1",
            "tasks-1-end_hours": "2", "tasks-1-DELETE": "on"}
    response = login(actors.release_manager).post(reverse("releases:template_edit", args=[template.pk]), data)
    assert response.status_code == 302
    assert [(t.pk, t.title, t.team, t.offset_end) for t in template.tasks.all()] == [(a.pk, "A2", team, 3 * H)]


def test_bad_template_input_is_shown_in_place(login, actors):
    team = Team.objects.create(name="Ops")
    client = login(actors.release_manager)
    response = client.post(reverse("releases:template_create"), _form(team, **{"tasks-0-end_hours": "1"}))
    assert response.status_code == 400 and "cannot end before it starts" in response.content.decode()
    client.post(reverse("releases:template_create"), _form(team))
    response = client.post(reverse("releases:template_create"), _form(team))  # the name is taken
    assert response.status_code == 400
    assert ReleaseTemplate.objects.count() == 1


@pytest.mark.parametrize("role", ["change_manager", "cab_member", "stakeholder"])
def test_only_release_managers_edit_templates(login, make_user, actors, role):
    template = template_create(by=actors.release_manager, name="Monthly", release_type="minor")
    client = login(make_user(role))
    assert client.get(reverse("releases:templates")).status_code == 200
    assert client.get(reverse("releases:template_create")).status_code == 403
    assert client.post(reverse("releases:template_edit", args=[template.pk]),
                       {"name": "Mine", "release_type": "minor"}).status_code == 403
    assert ReleaseTemplate.objects.get().name == "Monthly"


def test_raising_a_release_with_a_template(login, actors):
    template = template_create(by=actors.release_manager, name="Monthly", release_type="minor",
                               scope="Fixes.", tasks=[{"title": "Deploy", "step": 12, "offset_start": 2 * H,
                                                       "offset_end": 3 * H}], test_cases=[{"name": "Smoke"}])
    rfc = authorised_rfc(actors, "Fix")
    client = login(actors.release_manager)
    page = client.get(reverse("releases:create")).content.decode()
    assert "Monthly (minor)" in page
    start = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    data = {"title": "From template", "release_type": "minor", "rfcs": [rfc.pk], "template": template.pk,
            "planned_start": start.strftime("%Y-%m-%dT%H:%M"),
            "planned_end": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}
    response = client.post(reverse("releases:create"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    release = Release.objects.get(title="From template")
    assert release.template == template
    assert release.tasks.get().planned_start == release.planned_start + 2 * H
    assert release.test_cases.get().name == "Smoke" and release.current_plan.scope == "Fixes."

    response = client.post(reverse("releases:create"), {**data, "title": "Wrong type", "release_type": "major"})
    assert response.status_code == 400 and "for minor releases" in response.content.decode()
    assert not Release.objects.filter(title="Wrong type").exists()
