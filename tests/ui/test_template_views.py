"""Browser UI (Django test client): release template pages, the template
choice when raising a release, and the problem record pages."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from changes.models import Problem
from releases.models import Release, ReleaseTemplate, Team
from releases.scenario import authorised_rfc, new_release
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


# --- problem records -------------------------------------------------------------------------


def test_rolled_back_release_page_offers_a_problem_record(login, actors, make_user, rolled_back):
    url = reverse("releases:detail", args=[rolled_back.pk])
    open_url = reverse("changes:problem_open", args=[rolled_back.pk])
    assert "Open a problem record" not in login(make_user("stakeholder")).get(url).content.decode()
    client = login(actors.change_manager)
    assert "Open a problem record" in client.get(url).content.decode()
    response = client.post(open_url)
    problem = Problem.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("changes:problem_detail",
                                                                           args=[problem.pk])
    page = client.get(response["Location"]).content.decode()
    assert problem.number in page and "Complete rollback: Rolling back → Rolled back" in page
    # Now the release page links to it, and a second click lands on the same record.
    release_page = client.get(url).content.decode()
    assert problem.number in release_page and "Open a problem record" not in release_page
    assert client.post(open_url)["Location"] == reverse("changes:problem_detail", args=[problem.pk])
    assert Problem.objects.count() == 1
    assert client.get(reverse("changes:problem_list")).status_code == 200


def test_no_problem_record_for_a_release_not_rolled_back(login, actors, cis):
    release = new_release(actors, cis=cis)
    client = login(actors.release_manager)
    assert "Open a problem record" not in client.get(reverse("releases:detail", args=[release.pk])).content.decode()
    client.post(reverse("changes:problem_open", args=[release.pk]))
    assert not Problem.objects.exists()
    assert login(actors.requester).post(reverse("changes:problem_open", args=[release.pk])).status_code == 403


def test_the_analysis_is_recorded_on_the_problem_page(login, actors, make_user, rolled_back):
    client = login(actors.release_manager)
    client.post(reverse("changes:problem_open", args=[rolled_back.pk]))
    problem = Problem.objects.get()
    url = reverse("changes:problem_detail", args=[problem.pk])
    data = {"title": problem.title, "root_cause": "Pool exhausted.", "corrective_actions": ""}
    assert client.post(url, data).status_code == 302
    response = client.post(reverse("changes:problem_transition", args=[problem.pk, "identify_root_cause"]))
    assert response.status_code == 302
    problem.refresh_from_db()
    assert (problem.root_cause, problem.state) == ("Pool exhausted.", "root_cause_known")
    blocked = client.post(reverse("changes:problem_transition", args=[problem.pk, "close"]))
    assert blocked.status_code == 409 and "corrective actions" in blocked.content.decode()
    stakeholder = login(make_user("stakeholder"))
    assert stakeholder.get(url).status_code == 200
    assert stakeholder.post(url, {**data, "root_cause": "guess"}).status_code == 403
