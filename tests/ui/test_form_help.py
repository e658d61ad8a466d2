"""Forms that help: one error summary for every form (focused, each error
linked to its field), checks as the user types (dates outside the release
window, a CI the CMDB does not hold), and a blocker's "fix →" that opens the
very task or record it is about."""
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from cmdb.models import ConfigurationItem
from releasemgmt.workflow import name_of
from releases import services as s
from releases.models import Release
from releases.scenario import Walker, new_release
from tests.helpers import html, token_client

pytestmark = pytest.mark.django_db


def _summary(body):
    """The error summary of a page: it takes focus and is read out."""
    match = re.search(r'<div class="form-errors error-summary"[^>]*>.*?</div>', body, re.DOTALL)
    assert match, "no error summary"
    tag = match.group(0)[:match.group(0).index(">")]
    assert 'role="alert"' in tag and 'tabindex="-1"' in tag and "autofocus" in tag and "data-error-summary" in tag
    return match.group(0)


def test_a_form_s_errors_are_summarised_each_linked_to_its_field(login, actors):
    release = new_release(actors)
    client = login(actors.release_manager)
    start = release.planned_start + timedelta(hours=5)
    response = client.post(reverse("releases:task_add", args=[release.pk]), {
        "task-title": "", "task-step": "12", "task-planned_start": f"{start:%Y-%m-%dT%H:%M}",
        "task-planned_end": f"{start - timedelta(hours=1):%Y-%m-%dT%H:%M}"})
    assert response.status_code == 400
    body = html(response)
    summary = _summary(body)
    assert '<a href="#id_task-title" data-field="task-title">Title: This field is required.</a>' in summary
    assert 'id="id_task-title"' in body  # the link's target
    assert summary.count("<li>") == 2  # the title, and the window's own rule
    # One summary: the form's fields keep their errors in place, not a second box.
    assert body.count("data-error-summary") == 1


def test_a_refused_step_and_a_failed_login_say_so_in_the_summary(client, login, actors):
    release = new_release(actors)
    Walker(release, actors).to("planning")
    page = login(actors.release_manager).post(
        reverse("releases:transition", args=[release.pk, name_of(Release.submit_plan)]))
    assert page.status_code == 409
    assert "No release plan has been written yet." in _summary(html(page))
    client.logout()
    failed = client.post(reverse("login"), {"username": "rm", "password": "wrong"})
    assert "didn't match" in _summary(html(failed))


def test_a_template_s_row_errors_join_the_summary(login, actors):
    client = login(actors.release_manager)
    data = {"name": "Monthly", "tasks-TOTAL_FORMS": "1", "tasks-INITIAL_FORMS": "0", "tests-TOTAL_FORMS": "0",
            "tests-INITIAL_FORMS": "0", "tasks-0-title": "Deploy", "tasks-0-step": "12",
            "tasks-0-start_hours": "x", "tasks-0-end_hours": "2"}
    response = client.post(reverse("releases:template_create"), data)
    assert response.status_code == 400
    assert 'href="#id_tasks-0-start_hours"' in _summary(html(response))


# --- checks as the user types -------------------------------------------------------------


def _check(client, release, **typed):
    response = client.get(reverse("releases:live_check", args=[release.pk]), typed)
    assert response.status_code == 200
    return html(response)


def test_dates_outside_the_release_window_are_told_as_they_are_typed(login, actors):
    release = new_release(actors)
    client = login(actors.release_manager)
    before = release.planned_start - timedelta(days=2)
    inside = release.planned_start + timedelta(days=1)
    fragment = _check(client, release, **{"task-planned_start": f"{before:%Y-%m-%dT%H:%M}",
                                          "task-planned_end": f"{inside:%Y-%m-%dT%H:%M}"})
    assert fragment.count('class="live-check"') == 1 and 'data-check="outside_window"' in fragment
    assert "The task starts" in fragment and "the release cannot be scheduled until it is moved" in fragment
    # Inside the window: nothing at all, so the slot stays empty (and hidden).
    assert _check(client, release, **{"task-planned_start": f"{inside:%Y-%m-%dT%H:%M}"}) == ""
    after = release.planned_end + timedelta(hours=1)
    fragment = _check(client, release, **{"plans-deployment_start": f"{inside:%Y-%m-%dT%H:%M}",
                                          "plans-deployment_end": f"{after:%Y-%m-%dT%H:%M}"})
    assert "The deployment window ends" in fragment and "cannot be submitted to the CAB" in fragment
    fragment = _check(client, release, **{"plans-deployment_start": f"{inside:%Y-%m-%dT%H:%M}",
                                          "plans-deployment_end": f"{inside:%Y-%m-%dT%H:%M}"})
    assert 'data-check="end_before_start"' in fragment
    # Half typed: not a date yet, nothing said (the form says so when saved).
    assert _check(client, release, **{"task-planned_start": "2026-1"}) == ""


def test_an_unknown_ci_is_told_as_it_is_typed_with_the_way_to_register_it(login, actors, make_user):
    release = new_release(actors)
    ConfigurationItem.objects.create(name="payments-api", ci_type="service", version="1.0")
    rm = login(actors.release_manager)
    assert _check(rm, release, **{"scope-ci": "payments-api"}) == ""
    fragment = _check(rm, release, **{"scope-ci": "billing-service"})
    assert "The CMDB holds no configuration item named “billing-service”" in fragment
    assert "A configuration manager registers it" in fragment and "/cmdb/cis/new/" not in fragment
    confman = login(actors.configuration_manager)
    fragment = _check(confman, release, **{"scope-ci": "billing-service"})
    assert f"/cmdb/cis/new/?name=billing-service&amp;next=%2Freleases%2F{release.pk}%2F%23scope" in fragment


def test_the_checks_are_asked_only_about_a_release_one_may_read(client, login, actors, make_user):
    release = new_release(actors)
    url = reverse("releases:live_check", args=[release.pk])
    assert client.get(url).status_code == 302  # to the login
    assert login(make_user("vendor", username="acme")).get(url).status_code == 403
    assert login(actors.release_manager).get(reverse("releases:live_check", args=[987654])).status_code == 404
    assert login(actors.release_manager).post(url).status_code == 405


def test_the_checked_fields_ask_as_the_user_types(login, actors):
    release = new_release(actors)
    client = login(actors.release_manager)
    check = reverse("releases:live_check", args=[release.pk])
    task_page = html(client.get(reverse("releases:task_add", args=[release.pk])))
    field = re.search(r'<input[^>]*name="task-planned_start"[^>]*>', task_page).group(0)
    assert f'hx-get="{check}"' in field and 'hx-trigger="input changed delay:400ms"' in field
    assert 'hx-target="#task-checks"' in field and 'hx-params="not csrfmiddlewaretoken"' in field
    assert '<div class="live-checks" id="task-checks" aria-live="polite"></div>' in task_page
    page = html(client.get(reverse("releases:detail", args=[release.pk])))
    ci = re.search(r'<input[^>]*name="scope-ci"[^>]*>', page).group(0)
    assert f'hx-get="{check}"' in ci and 'hx-target="#scope-checks"' in ci and 'id="scope-checks"' in page
    assert "<script>" not in page  # the checks are htmx attributes, not inline script


# --- "fix →" opens the record -----------------------------------------------------------------


def test_a_fix_link_opens_the_very_task_it_is_about(login, actors, cis):
    release = new_release(actors, cis=cis)
    Walker(release, actors).to("plan_approved")
    release.refresh_from_db()
    early = s.task_create(release_id=release.pk, by=actors.release_manager, title="Warm caches", step=12,
                          assignee_user=actors.deployment_team,
                          planned_start=release.planned_start - timedelta(days=3),
                          planned_end=release.planned_start - timedelta(days=2))
    body = html(login(actors.release_manager).get(reverse("releases:detail", args=[release.pk])))
    blocker = re.search(r'<li data-code="task_outside_window".*?</li>', body, re.DOTALL).group(0)
    assert f'<a class="fix" href="#task-{early.pk}">' in blocker
    assert f'<tr id="task-{early.pk}">' in body
    # The API's blockers stay code and message.
    rows = token_client(actors.release_manager).get(f"/api/releases/{release.pk}/transitions/").json()
    assert [b for row in rows for b in row["blockers"] if set(b) != {"code", "message"}] == []


def test_a_fix_link_opens_the_very_record_it_is_about(login, actors, cis):
    release = new_release(actors, cis=cis)
    walker = Walker(release, actors)
    walker.to("building")
    check = walker.add("prerequisite_checks", actors.build_team, description="Migrations reviewed", verified=False)
    body = html(login(actors.build_team).get(reverse("releases:detail", args=[release.pk])))
    blocker = re.search(r"<li data-code=\"prerequisites_unverified\".*?</li>", body, re.DOTALL).group(0)
    assert f'href="#rec-prerequisite_checks-{check.pk}"' in blocker
    assert f'id="rec-prerequisite_checks-{check.pk}"' in body
    # What names no row still leads to its section.
    assert re.search(r'<li data-code="baseline_missing".*?href="#baselines"', body, re.DOTALL)
