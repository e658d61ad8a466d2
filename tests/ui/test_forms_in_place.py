"""Forms in place on the release page: a record saved with htmx answers
with the page's body (no reload), without JavaScript with a redirect
(Post/Redirect/Get); "Save and submit the plan" takes the step the record
completes in the same action, or is refused with the blockers and keeps
nothing; a record is edited in place; the acceptance criteria are written
where step 9 asks for them; a refused CAB vote comes back alone."""
from datetime import timedelta

import pytest
from django.urls import reverse

from releasemgmt.workflow import name_of
from releases import services
from releases.models import Release
from releases.scenario import Walker, new_release
from tests.helpers import html

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SUBMIT = name_of(Release.submit_plan)
BUILT = name_of(Release.complete_build)


def plan_data(release, **extra):
    start, end = release.planned_start + timedelta(hours=2), release.planned_end - timedelta(hours=2)
    return {"plans-scope": "Search and its index.", "plans-deployment_start": start.strftime("%Y-%m-%dT%H:%M"),
            "plans-deployment_end": end.strftime("%Y-%m-%dT%H:%M"),
            "plans-deployment_approach": "Rolling.", "plans-risks": "Slower search.", "plans-teams": "Build.",
            **extra}


@pytest.fixture
def planning(actors, cis):
    release = new_release(actors, cis=cis)
    Walker(release, actors).to("planning")
    return release


def test_the_plan_form_offers_to_submit_it_and_does_both_in_one_action(login, actors, planning):
    client = login(actors.release_manager)
    page = html(client.get(reverse("releases:detail", args=[planning.pk])))
    assert f'name="then" value="{SUBMIT}"' in page and "Save and submit plan to CAB" in page
    url = reverse("releases:record_add", args=[planning.pk, "plans"])
    response = client.post(url, plan_data(planning, then=SUBMIT))
    assert response.status_code == 302, html(response)[html(response).find("form-errors"):][:600] and response["Location"].startswith(
        reverse("releases:detail", args=[planning.pk]))
    planning.refresh_from_db()
    assert planning.state == "plan_submitted" and planning.plans.count() == 1


def test_a_record_saved_through_htmx_answers_with_the_page_body_in_place(login, actors, planning):
    client = login(actors.release_manager)
    url = reverse("releases:record_add", args=[planning.pk, "plans"])
    response = client.post(url, plan_data(planning), **HTMX)
    assert response.status_code == 200
    body = html(response)
    assert 'id="release-body"' in body and 'hx-swap-oob="true"' in body and "Release plan recorded" in body
    assert "<html" not in body and 'id="process"' not in body  # the body alone, not the page
    # Refused by a field: the body again, the form with its errors, status 400 (htmx swaps it in place).
    bad = client.post(url, plan_data(planning, **{"plans-deployment_end": "not a date"}), **HTMX)
    assert bad.status_code == 400 and 'id="release-body"' in html(bad) and "has-error" in html(bad)
    # A step taken with the save reloads the whole page.
    moved = client.post(url, plan_data(planning, then=SUBMIT), **HTMX)
    assert moved.status_code == 200 and moved["HX-Refresh"] == "true"


def test_a_half_filled_build_document_is_finished_in_place_and_the_step_refused_keeps_nothing(
        login, actors, cis):
    release = new_release(actors, cis=cis)
    Walker(release, actors).to("building")
    doc = services.record_add(release_id=release.pk, record_type="build_documents", by=actors.build_team,
                              build_install_test_plans="make release")
    client = login(actors.build_team)
    url = reverse("releases:record_edit", args=[release.pk, "build_documents", doc.pk])
    assert f'hx-get="{url}"' in html(client.get(reverse("releases:detail", args=[release.pk])))
    inline = client.get(url, **HTMX)
    assert inline.status_code == 200 and f'id="rec-build_documents-{doc.pk}"' in html(inline)
    assert "<html" not in html(inline)
    finished = {"build_documents-build_install_test_plans": "make release", "build_documents-monitoring_qa": "QA.",
                "build_documents-deployment_procedures": "Ansible.", "build_documents-rollback_procedures": "Redeploy.",
                "build_documents-remediation_steps": "Page on-call."}
    # The build cannot complete yet (no security check, no prerequisites): refused with its blockers,
    # and the document is not kept finished either.
    refused = client.post(url, {**finished, "then": BUILT}, **HTMX)
    assert refused.status_code == 409 and refused["HX-Retarget"] == f"#rec-build_documents-{doc.pk}"
    assert "security" in html(refused).lower()
    doc.refresh_from_db()
    assert doc.monitoring_qa == "" and Release.objects.get(pk=release.pk).state == "building"
    saved = client.post(url, finished, **HTMX)
    assert saved.status_code == 200 and 'id="release-body"' in html(saved)
    doc.refresh_from_db()
    assert doc.monitoring_qa == "QA."


def test_the_acceptance_criteria_are_written_in_place_with_the_step_they_complete(login, actors, cis):
    release = new_release(actors, cis=cis)
    Walker(release, actors).to("plans_updated")
    client = login(actors.release_manager)
    url = reverse("releases:acceptance", args=[release.pk])
    page = html(client.get(reverse("releases:detail", args=[release.pk])))
    assert f'action="{url}"' in page
    response = client.post(url, {"acceptance-acceptance_criteria": "p95 under 300 ms."}, **HTMX)
    assert response.status_code == 200 and "acceptance criteria documented" in html(response)
    release.refresh_from_db()
    assert release.acceptance_criteria == "p95 under 300 ms." and release.state == "plans_updated"
    assert client.get(url).status_code == 302  # a reload of its address lands on the page
    assert client.post(url, {"acceptance-acceptance_criteria": ""}).status_code == 400


def test_a_refused_vote_sent_in_place_comes_back_alone(login, actors, planning):
    planning.refresh_from_db()
    Walker(planning, actors).to("plan_submitted")
    client = login(actors.cab_members[0])
    url = reverse("releases:cab_vote", args=[planning.pk])
    response = client.post(url, {"vote-decision": "approve", "vote-password": "not mine"}, **HTMX)
    assert response.status_code == 400
    assert 'class="vote-form' in html(response) and "<html" not in html(response)
    assert planning.votes.count() == 0
