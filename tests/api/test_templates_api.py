"""REST API: release templates, releases raised from them, problem records."""
from datetime import timedelta

import pytest
from django.utils import timezone

from changes.models import Problem
from releases.models import Release, ReleaseTemplate, Team
from releases.scenario import authorised_rfc, new_release

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/release-templates/"


@pytest.fixture
def team(db):
    return Team.objects.create(name="Ops")


def _body(team, **over):
    body = {"name": "Monthly minor", "release_type": "minor", "scope": "Monthly fixes.",
            "deployment_approach": "Rolling.", "risks": "Low.", "teams": "Ops", "rollback_plan": "Redeploy n-1.",
            "tasks": [{"title": "Deploy", "step": 12, "team": team.pk, "offset_start": "02:00:00",
                       "offset_end": "04:00:00"},
                      {"title": "Announce", "step": 9, "team": team.pk, "offset_start": "-1 00:00:00",
                       "offset_end": "-1 00:00:00"}],
            "test_cases": [{"name": "Smoke", "mandatory": True}]}
    body.update(over)
    return body


def test_release_manager_creates_reads_and_edits_a_template(client_for, actors, team):
    rm = client_for(actors.release_manager)
    response = rm.post(TEMPLATES, _body(team), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert [t["title"] for t in data["tasks"]] == ["Announce", "Deploy"]
    assert data["tasks"][0]["offset_start"] == "-1 00:00:00"
    assert data["created_by"] == actors.release_manager.pk
    pk, deploy = data["id"], next(t for t in data["tasks"] if t["title"] == "Deploy")

    listed = client_for(actors.requester).get(TEMPLATES, {"release_type": "minor"}).json()
    assert [t["name"] for t in listed["results"]] == ["Monthly minor"]

    response = rm.patch(f"{TEMPLATES}{pk}/", {"tasks": [{"id": deploy["id"], "title": "Deploy to prod",
                                                         "step": 12, "offset_start": "01:00:00",
                                                         "offset_end": "02:00:00"}]}, format="json")
    assert response.status_code == 200, response.content
    assert [t["title"] for t in response.json()["tasks"]] == ["Deploy to prod"]
    assert response.json()["test_cases"][0]["name"] == "Smoke"  # untouched when not sent
    assert response["ETag"]


@pytest.mark.parametrize("role", ["change_manager", "cab_member", "stakeholder", "vendor"])
def test_other_roles_may_not_write_templates(client_for, make_user, actors, team, role):
    template = ReleaseTemplate.objects.create(name="Existing", release_type="minor")
    client = client_for(make_user(role))
    assert client.post(TEMPLATES, _body(team), format="json").status_code == 403
    assert client.patch(f"{TEMPLATES}{template.pk}/", {"name": "Mine"}, format="json").status_code in (403, 404)
    assert not ReleaseTemplate.objects.filter(name__in=["Monthly minor", "Mine"]).exists()


def test_bad_template_input_is_a_400(client_for, actors, team):
    rm = client_for(actors.release_manager)
    assert rm.post(TEMPLATES, _body(team), format="json").status_code == 201
    assert rm.post(TEMPLATES, _body(team), format="json").status_code == 400  # name taken
    backwards = _body(team, name="Backwards")
    backwards["tasks"][0]["offset_end"] = "01:00:00"
    response = rm.post(TEMPLATES, backwards, format="json")
    assert response.status_code == 400 and "tasks" in response.json()
    response = rm.patch(f"{TEMPLATES}{ReleaseTemplate.objects.get().pk}/",
                        {"tasks": [{"id": 999999, "title": "x", "step": 1, "offset_start": "0", "offset_end": "0"}]},
                        format="json")
    assert response.status_code == 400
    assert client_for(None).get(TEMPLATES).status_code == 401


def test_a_release_raised_with_a_template_starts_with_its_content(client_for, actors, team):
    rm = client_for(actors.release_manager)
    template = rm.post(TEMPLATES, _body(team), format="json").json()
    start = (timezone.now() + timedelta(days=7)).replace(microsecond=0)
    body = {"title": "November", "release_type": "minor", "rfcs": [authorised_rfc(actors, "Fix").pk],
            "planned_start": start.isoformat(), "planned_end": (start + timedelta(days=1)).isoformat(),
            "template": template["id"]}
    response = rm.post("/api/releases/", body, format="json")
    assert response.status_code == 201, response.content
    release = Release.objects.get(pk=response.json()["id"])
    assert response.json()["template"] == template["id"]
    deploy = release.tasks.get(title="Deploy")
    assert (deploy.assignee_team, deploy.planned_start) == (team, start + timedelta(hours=2))
    assert release.tasks.get(title="Announce").planned_start == start - timedelta(days=1)
    assert [c.name for c in release.test_cases.all()] == ["Smoke"]
    assert release.current_plan.deployment_approach == "Rolling."

    # The template stays as it was raised; sending it back unchanged is fine.
    ok = rm.patch(f"/api/releases/{release.pk}/", {"template": template["id"], "title": "Nov."}, format="json")
    assert ok.status_code == 200, ok.content
    other = ReleaseTemplate.objects.create(name="Other", release_type="minor")
    assert rm.patch(f"/api/releases/{release.pk}/", {"template": other.pk}, format="json").status_code == 400


def test_a_template_of_another_type_is_a_400_and_nothing_is_raised(client_for, actors, team):
    rm = client_for(actors.release_manager)
    template = rm.post(TEMPLATES, _body(team), format="json").json()
    body = {"title": "Big one", "release_type": "major", "rfcs": [authorised_rfc(actors, "Fix").pk],
            "template": template["id"]}
    response = rm.post("/api/releases/", body, format="json")
    assert response.status_code == 400 and "template" in response.json()
    assert not Release.objects.exists()


# --- problems --------------------------------------------------------------------------------


def test_problem_record_over_the_api(client_for, actors, make_user, rolled_back):
    assert client_for(make_user("cab_member")).post("/api/problems/", {"release": rolled_back.pk},
                                                    format="json").status_code == 403
    cm = client_for(actors.change_manager)
    response = cm.post("/api/problems/", {"release": rolled_back.pk}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["number"].startswith("PRB-") and "Complete rollback: Rolling back → Rolled back" in data["timeline"]
    assert data["rfcs"] == [r.pk for r in rolled_back.rfcs.all()]
    again = cm.post("/api/problems/", {"release": rolled_back.pk}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "duplicate"

    url = f"/api/problems/{data['id']}/"
    rewrite = cm.patch(url, {"timeline": "rewritten"}, format="json")  # read-only: refused, not dropped
    assert rewrite.status_code == 400 and rewrite.json()["code"] == "read_only"
    assert cm.get(url).json()["timeline"] == data["timeline"]
    assert cm.patch(url, {"root_cause": "Pool exhausted."}, format="json").status_code == 200
    moved = cm.post(f"{url}transitions/identify_root_cause/", {}, format="json")
    assert moved.status_code == 200 and moved.json()["state"] == "root_cause_known"
    rows = cm.get(f"{url}transitions/").json()
    assert [r["name"] for r in rows] == ["close"] and not rows[0]["allowed"]
    assert client_for(actors.requester).get(url).status_code == 200
    assert client_for(actors.requester).patch(url, {"root_cause": "x"}, format="json").status_code == 403


def test_problem_for_a_release_not_rolled_back_is_a_409(client_for, actors, cis):
    release = new_release(actors, cis=cis)
    response = client_for(actors.release_manager).post("/api/problems/", {"release": release.pk}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"
    assert response.json()["blockers"][0]["code"] == "not_rolled_back"
    assert not Problem.objects.exists()
    bad = client_for(actors.release_manager).post("/api/problems/", {"release": 999999}, format="json")
    assert bad.status_code == 400
