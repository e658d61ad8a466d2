"""The browser UI through Django's test client: who sees what, 403 for a
wrong role's post, field errors in place, password-confirmed approvals, and
flat query counts."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from changes.models import ChangeRequest
from cmdb.models import Baseline, ConfigurationItem
from releasemgmt.signing import Password
from releases import services as s
from releases.models import CabVote, Release, Signature, TransitionLog, Vendor
from releases.scenario import Walker, authorised_rfc, new_release
from tests.helpers import html, reach
from tests.signatures import PASSWORD

pytestmark = pytest.mark.django_db


def transition_buttons(response) -> set[str]:
    """The release/RFC transitions the page offers as buttons."""
    return set(re.findall(r'<form[^>]*class="transition[^"]*"[^>]*data-transition="([a-z_]+)"', html(response)))


@pytest.fixture
def planning(actors, cis):
    return reach(actors, cis, "planning").release


@pytest.fixture
def submitted(actors, cis):
    release = reach(actors, cis, "planning").release
    Walker(release, actors).plan()
    return s.release_transition(release_id=release.pk, name="submit_plan", by=actors.release_manager)


# --- logging in, and who sees what -----------------------------------------------------------


def test_pages_need_a_login(client):
    for url in ("/", reverse("releases:list"), reverse("releases:cab_queue"), reverse("releases:calendar"),
                reverse("changes:list"), reverse("cmdb:ci_list"), reverse("releases:tasks")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_login_and_logout_with_csrf(actors):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    token = page.cookies["csrftoken"].value
    assert 'name="csrfmiddlewaretoken"' in html(page)
    refused = client.post(reverse("login"), {"username": "rm", "password": PASSWORD})
    assert refused.status_code == 403  # no CSRF token
    response = client.post(reverse("login"), {"username": "rm", "password": PASSWORD,
                                              "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    dashboard = client.get("/")
    assert "Hello, rm" in html(dashboard) or "Hello" in html(dashboard)
    token = dashboard.cookies.get("csrftoken", page.cookies["csrftoken"]).value
    out = client.post(reverse("logout"), {"csrfmiddlewaretoken": token})
    assert out.status_code == 302 and out["Location"] == reverse("login")
    assert client.get("/").status_code == 302


def test_wrong_password_keeps_you_out(client, actors):
    response = client.post(reverse("login"), {"username": "rm", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in html(response)


@pytest.mark.parametrize("role", ["release_manager", "change_manager", "cab_member", "delivery_manager",
                                  "build_team", "test_team", "deployment_team", "configuration_manager",
                                  "stakeholder", "vendor"])
def test_every_role_gets_a_dashboard(login, make_user, role, submitted):
    client = login(make_user(role))
    response = client.get("/")
    assert response.status_code == 200
    body = html(response)
    assert 'id="work-queue"' in body  # their tasks, a vendor's included, wait there
    if role == "vendor":
        assert reverse("releases:list") not in body
    else:
        assert "Upcoming deployments" in body
        assert reverse("releases:list") in body
    assert ("Vote on plan v1" in body) == (role == "cab_member")


def test_a_vendor_sees_only_its_tasks(login, make_user, actors, cis):
    release = reach(actors, cis, "plan_approved").release
    acme, other = Vendor.objects.create(name="Acme"), Vendor.objects.create(name="Globex")
    vendor_user = make_user("vendor")
    acme.users.add(vendor_user)
    mine = s.task_create(release_id=release.pk, by=actors.release_manager, title="Open firewall", step=12,
                         assignee_vendor=acme, planned_start=release.planned_start + timedelta(hours=1),
                         planned_end=release.planned_end - timedelta(hours=1))
    theirs = s.task_create(release_id=release.pk, by=actors.release_manager, title="Renew certificate", step=12,
                           assignee_vendor=other, planned_start=release.planned_start + timedelta(hours=1),
                           planned_end=release.planned_end - timedelta(hours=1))
    client = login(vendor_user)
    board = html(client.get(reverse("releases:tasks")))
    assert "Open firewall" in board and "Renew certificate" not in board
    assert client.get(reverse("releases:task", args=[mine.pk])).status_code == 200
    assert client.get(reverse("releases:task", args=[theirs.pk])).status_code == 404
    for url in (reverse("releases:list"), reverse("releases:detail", args=[release.pk]),
                reverse("changes:list"), reverse("cmdb:ci_list"), reverse("releases:cab_queue")):
        assert client.get(url).status_code == 403, url
    # Posting anyway: 403 for a release step, nothing for another vendor's task.
    response = client.post(reverse("releases:transition", args=[release.pk, "schedule"]))
    assert response.status_code == 403
    assert client.post(reverse("releases:task_transition", args=[theirs.pk, "start"])).status_code == 404
    # The vendor updates its own task's ticket reference, nothing else.
    response = client.post(reverse("releases:task", args=[mine.pk]), {"vendor_ticket_ref": "ACME-42",
                                                                       "description": ""})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.vendor_ticket_ref == "ACME-42"
    calendar = html(client.get(reverse("releases:calendar") + f"?view=week&date={mine.planned_start:%Y-%m-%d}"))
    assert "Open firewall" in calendar and "Renew certificate" not in calendar


def test_dashboard_lists_releases_waiting_on_my_role(login, actors, cis):
    release = reach(actors, cis, "verified").release
    body = html(login(actors.change_manager).get("/"))
    queue = body[body.index('id="work-queue"'):body.index('id="overdue"')]
    assert release.number in queue and "Evaluate" in queue
    # Listed once: no card below repeats the queue.
    assert body.count(f'href="/releases/{release.pk}/#next-steps"') == 1
    assert 'id="role-queue"' not in body and 'id="cab-queue"' not in body and 'id="go-queue"' not in body
    deployments = body[body.index('id="deployments"'):body.index('id="freezes"')]
    assert release.number not in deployments  # already deployed: not upcoming
    tester = html(login(actors.test_team).get("/"))
    assert release.number not in tester[tester.index('id="work-queue"'):tester.index('id="overdue"')]


def test_dashboard_shows_a_bounded_number_of_releases_and_links_to_the_rest(login, actors, monkeypatch):
    from releases.selectors import dashboard_page as selectors

    monkeypatch.setattr(selectors, "DASHBOARD_RELEASES", 3)
    releases = [new_release(actors, title=f"Train {i}") for i in range(5)]
    client = login(actors.change_manager)  # a reader: every release in progress
    body = html(client.get("/"))
    section = body[body.index('id="my-releases"'):body.index('id="deployments"')]
    assert sum(r.number in section for r in releases) == 3
    assert "The 3 starting first of 5" in section and 'href="/releases/?state=active"' in section

    monkeypatch.setattr(selectors, "DASHBOARD_RELEASES", 10)
    section = html(client.get("/"))
    assert "starting first of" not in section


def test_a_setback_is_drawn_apart_from_the_way_forward_as_its_step_declares(login, actors, cis):
    """Cancelling (a setback, by its declaration) is a danger button; the
    step forward is not. The page reads it from the declaration, not from a
    list of names in the template."""
    from releasemgmt.workflow import specs

    assert {n for n, spec in specs(Release).items() if spec.setback} == {
        "reject_plan", "fail_tests", "no_go", "rollback", "cancel"}
    release = new_release(actors, cis=cis)
    body = html(login(actors.release_manager).get(reverse("releases:detail", args=[release.pk])))
    buttons = {name: tone for tone, name in re.findall(
        r'<button type="submit" class="btn (btn-[a-z]+)" name="transition" value="([a-z_]+)"', body)}
    assert buttons["cancel"] == "btn-danger"
    assert buttons["start_planning"] == "btn-primary"


def test_blockers_link_to_where_they_are_fixed(login, planning, actors):
    body = html(login(actors.release_manager).get(reverse("releases:detail", args=[planning.pk])))
    assert re.search(r'data-code="plan_missing"[^>]*>[^<]*<a class="fix" href="#rec-plans">', body)


def test_a_user_without_a_role_is_told_so(login, make_user):
    client = login(make_user())
    assert "no role in the release process" in html(client.get("/"))
    assert client.get(reverse("releases:list")).status_code == 403
    assert client.get(reverse("releases:tasks")).status_code == 403


# --- the release list and raising tickets --------------------------------------------------------------


def test_release_list_filters_and_search(login, actors, cis, make_user):
    a = new_release(actors, title="Alpha payments", cis=[cis[0]])
    b = new_release(actors, title="Beta search", release_type="major")
    other_rm = make_user("release_manager", username="rm2")
    c = s.release_create(by=other_rm, title="Gamma batch", release_type="minor",
                         rfcs=[authorised_rfc(actors, "Batch change")])
    Walker(a, actors).to("planning")
    client = login(actors.requester)
    url = reverse("releases:list")

    def numbers(**params):
        return set(re.findall(r"<strong>(REL-\d{5})</strong>", html(client.get(url, params))))

    assert numbers() == {a.number, b.number, c.number}
    assert numbers(state="planning") == {a.number}
    assert numbers(release_type="major") == {b.number}
    assert numbers(manager=other_rm.pk) == {c.number}
    assert numbers(ci=cis[0].pk) == {a.number}
    assert numbers(q="beta") == {b.number}
    assert numbers(q=c.number) == {c.number}
    assert numbers(q="Batch change") == {c.number}  # an RFC's title
    assert numbers(start=(timezone.now() + timedelta(days=1)).date().isoformat()) == {a.number, b.number}
    assert numbers(end=(timezone.now() - timedelta(days=30)).date().isoformat()) == set()


def test_raise_a_release_tagged_to_rfcs(login, actors):
    rfc1, rfc2 = authorised_rfc(actors, "One"), authorised_rfc(actors, "Two")
    client = login(actors.release_manager)
    page = client.get(reverse("releases:create") + f"?rfc={rfc1.pk}")
    assert f'value="{rfc1.pk}" id' in html(page) and "checked" in html(page)
    response = client.post(reverse("releases:create"), {
        "title": "Winter release", "release_type": "minor", "rfcs": [rfc1.pk, rfc2.pk],
        "planned_start": "2030-01-10T08:00", "planned_end": "2030-01-20T18:00"})
    release = Release.objects.get(title="Winter release")
    assert response.status_code == 302 and response["Location"] == reverse("releases:detail", args=[release.pk])
    assert set(release.rfcs.all()) == {rfc1, rfc2}
    assert release.release_manager == actors.release_manager
    assert release.planned_start.hour == 8


def test_raise_a_release_shows_field_errors_in_place(login, actors):
    rfc = authorised_rfc(actors, "One")
    client = login(actors.release_manager)
    response = client.post(reverse("releases:create"), {"title": "", "release_type": "minor",
                                                        "planned_start": "2030-01-10T08:00",
                                                        "planned_end": "2030-01-01T08:00"})
    assert response.status_code == 400
    body = html(response)
    assert 'id="id_title_error"' in body and "This field is required." in body
    assert 'id="id_rfcs_error"' in body
    assert "The planned end must be after the planned start." in body
    assert not Release.objects.exists()
    assert rfc.number in body  # the form is shown again, with its choices


def test_only_a_release_manager_raises_a_release(login, actors):
    rfc = authorised_rfc(actors, "One")
    client = login(actors.cab_members[0])
    assert client.get(reverse("releases:create")).status_code == 403
    response = client.post(reverse("releases:create"), {"title": "x", "release_type": "minor", "rfcs": [rfc.pk]})
    assert response.status_code == 403
    assert not Release.objects.exists()
    assert "Raise a release" not in html(client.get(reverse("releases:list")))


def test_raise_an_rfc_and_assess_it(login, actors):
    client = login(actors.requester)
    bad = client.post(reverse("changes:create"), {"title": "", "description": "", "change_type": "normal",
                                                  "risk": "low", "impact": "low"})
    assert bad.status_code == 400 and "This field is required." in html(bad)
    response = client.post(reverse("changes:create"), {"title": "Faster checkout", "description": "Cache prices.",
                                                       "change_type": "normal", "risk": "low", "impact": "low"})
    rfc = ChangeRequest.objects.get(title="Faster checkout")
    assert response.status_code == 302
    page = client.get(reverse("changes:detail", args=[rfc.pk]))
    assert transition_buttons(page) == set()  # the requester does not assess their own RFC
    assert client.post(reverse("changes:transition", args=[rfc.pk, "assess"])).status_code == 403
    cm = login(actors.change_manager)
    assert {"assess", "reject"} <= transition_buttons(cm.get(reverse("changes:detail", args=[rfc.pk])))
    no_reason = cm.post(reverse("changes:transition", args=[rfc.pk, "reject"]), {"reject-reason": ""})
    assert no_reason.status_code == 400 and "This field is required." in html(no_reason)
    assert cm.post(reverse("changes:transition", args=[rfc.pk, "assess"])).status_code == 302
    rfc.refresh_from_db()
    assert rfc.state == "assessed"


# --- the release page ------------------------------------------------------------------------------


def test_release_page_draws_the_20_steps(login, actors, cis):
    release = reach(actors, cis, "building").release
    body = html(login(actors.requester).get(reverse("releases:detail", args=[release.pk])))
    steps = dict(re.findall(r'data-step="(\d+)" data-status="([a-z]+)"', body))
    assert len(steps) == 20
    assert [steps[str(n)] for n in range(1, 6)] == ["done", "done", "done", "done", "current"]
    assert steps["6"] == "ahead" and steps["17"] == "optional"
    assert "Plan and CAB approval" in body and actors.cab_members[0].username in body  # who approved


def test_tracker_after_a_rollback_and_after_success(login, actors, cis, make_user):
    rolled = Walker(new_release(actors, cis=cis), actors).to("rolled_back", rollback_from="deployed")
    body = html(login(actors.requester).get(reverse("releases:detail", args=[rolled.pk])))
    steps = dict(re.findall(r'data-step="(\d+)" data-status="([a-z]+)"', body))
    assert steps["12"] == "done" and steps["13"] == "skipped" and steps["17"] == "done"
    assert steps["18"] == "current" and steps["19"] == "ahead"


def test_release_manager_sees_blockers_then_the_button(login, planning, actors):
    client = login(actors.release_manager)
    url = reverse("releases:detail", args=[planning.pk])
    page = client.get(url)
    assert "submit_plan" not in transition_buttons(page)
    assert 'data-code="plan_missing"' in html(page)
    Walker(planning, actors).plan()
    page = client.get(url)
    assert "submit_plan" in transition_buttons(page)
    response = client.post(reverse("releases:transition", args=[planning.pk, "submit_plan"]))
    assert response.status_code == 302
    planning.refresh_from_db()
    assert planning.state == "plan_submitted"


def test_a_wrong_role_sees_no_button_and_gets_403(login, planning, actors):
    Walker(planning, actors).plan()
    client = login(actors.cab_members[0])
    page = client.get(reverse("releases:detail", args=[planning.pk]))
    assert transition_buttons(page) == set()
    assert "Only a release manager may perform “Submit plan to CAB”." in html(page)
    response = client.post(reverse("releases:transition", args=[planning.pk, "submit_plan"]))
    assert response.status_code == 403
    response = client.post(reverse("releases:record_add", args=[planning.pk, "plans"]), {"plans-scope": "x"})
    assert response.status_code == 403
    planning.refresh_from_db()
    assert planning.state == "planning" and planning.plans.count() == 1


def test_a_blocked_transition_answers_409_with_the_blockers_in_place(login, planning, actors):
    client = login(actors.release_manager)
    response = client.post(reverse("releases:transition", args=[planning.pk, "submit_plan"]))
    assert response.status_code == 409
    assert "No release plan has been written yet." in html(response)


def test_a_reason_is_asked_where_the_contract_wants_one(login, planning, actors):
    client = login(actors.release_manager)
    url = reverse("releases:transition", args=[planning.pk, "cancel"])
    response = client.post(url, {"cancel-reason": "  "})
    assert response.status_code == 400
    assert 'id="id_cancel-reason_error"' in html(response)
    assert client.post(url, {"cancel-reason": "Superseded by REL-9"}).status_code == 302
    planning.refresh_from_db()
    assert planning.state == "cancelled"
    assert TransitionLog.objects.filter(name="cancel", reason="Superseded by REL-9").exists()


def test_step_records_added_and_refused_in_place(login, planning, actors):
    client = login(actors.release_manager)
    url = reverse("releases:record_add", args=[planning.pk, "plans"])
    bad = client.post(url, {"plans-scope": "Everything", "plans-deployment_start": "not a date"})
    assert bad.status_code == 400
    assert 'id="id_plans-deployment_start_error"' in html(bad)
    ok = client.post(url, {"plans-scope": "Everything", "plans-risks": "Low"})
    assert ok.status_code == 302
    assert planning.plans.get().scope == "Everything"
    # A record whose step is not open: refused with the reason, nothing written.
    closed = client.post(reverse("releases:record_add", args=[planning.pk, "backups"]),
                         {"backups-what": "db", "backups-location": "vault", "backups-taken_at": "2030-01-01T10:00"})
    assert closed.status_code == 409
    assert "cannot be written while the release is planning" in html(closed)
    # Evidence is never edited: plans are versioned instead.
    plan = planning.plans.get()
    assert client.get(reverse("releases:record_edit", args=[planning.pk, "plans", plan.pk])).status_code == 403


def test_edit_a_record_while_its_step_is_open(login, actors, cis):
    release = reach(actors, cis, "plans_updated").release
    client = login(actors.deployment_team)
    client.post(reverse("releases:record_add", args=[release.pk, "environment_readiness"]),
                {"environment_readiness-environment": "staging", "environment_readiness-ready": ""})
    record = release.environment_readiness.get(environment="staging")
    assert not record.ready
    url = reverse("releases:record_edit", args=[release.pk, "environment_readiness", record.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"environment_readiness-environment": "staging",
                                 "environment_readiness-ready": "on", "environment_readiness-notes": "green"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.ready and record.notes == "green"
    assert login(actors.cab_members[0]).post(url, {}).status_code == 403


def test_scope_tasks_and_baseline_from_the_release_page(login, actors, cis):
    release = reach(actors, cis, "plan_approved").release
    client = login(actors.release_manager)
    extra = ConfigurationItem.objects.create(name="orders-ui", version="1.0")
    r = client.post(reverse("releases:scope_add", args=[release.pk]), {"scope-ci": extra.pk,
                                                                       "scope-target_version": "1.1"})
    assert r.status_code == 302 and release.scope_items.filter(ci=extra, target_version="1.1").exists()
    bad = client.post(reverse("releases:task_add", args=[release.pk]), {"task-title": "", "task-step": "12"})
    assert bad.status_code == 400 and 'id="id_task-title_error"' in html(bad)
    r = client.post(reverse("releases:task_add", args=[release.pk]), {
        "task-title": "Smoke test in prod", "task-step": "12", "task-assignee_user": actors.deployment_team.pk,
        "task-planned_start": f"{release.planned_start + timedelta(hours=5):%Y-%m-%dT%H:%M}",
        "task-planned_end": f"{release.planned_start + timedelta(hours=6):%Y-%m-%dT%H:%M}"})
    assert r.status_code == 302
    task = release.tasks.get(title="Smoke test in prod")
    assert task.assignee_user == actors.deployment_team
    assert login(actors.cab_members[0]).post(reverse("releases:task_add", args=[release.pk]),
                                             {"task-title": "x"}).status_code == 403
    Walker(release, actors).to("packaging")
    cm_client = login(actors.configuration_manager)
    assert "Capture the pre-release baseline" in html(cm_client.get(reverse("releases:detail", args=[release.pk])))
    r = cm_client.post(reverse("releases:baseline_capture", args=[release.pk]))
    assert r.status_code == 302
    assert Baseline.objects.filter(release=release, kind="pre_release").exists()
    again = cm_client.post(reverse("releases:baseline_capture", args=[release.pk]))
    assert again.status_code == 409 and "already been captured" in html(again)
    assert login(actors.test_team).post(reverse("releases:baseline_capture", args=[release.pk])).status_code == 403


def test_task_transitions_from_the_board(login, actors, cis):
    release = reach(actors, cis, "scheduled").release
    task = release.tasks.get(step=12)
    client = login(actors.deployment_team)  # the task's assignee
    board = html(client.get(reverse("releases:tasks")))
    assert task.title in board and 'data-task-transition="start"' in board
    r = client.post(reverse("releases:task_transition", args=[task.pk, "start"]), {"next": reverse("releases:tasks")})
    assert r.status_code == 302 and r["Location"] == reverse("releases:tasks")
    task.refresh_from_db()
    assert task.state == "in_progress"
    r = client.post(reverse("releases:task_transition", args=[task.pk, "block"]), {})
    task.refresh_from_db()
    assert task.state == "in_progress"  # a reason is needed
    assert login(actors.test_team).post(reverse("releases:task_transition", args=[task.pk, "complete"])) \
        .status_code == 403


# --- approvals: signed with the password ---------------------------------------------------------------------


def test_cab_queue_lists_plans_awaiting_my_vote(login, submitted, actors):
    cab = actors.cab_members[0]
    client = login(cab)
    assert submitted.number in html(client.get(reverse("releases:cab_queue")))
    assert submitted.number in html(client.get("/"))
    review = html(client.get(reverse("releases:cab_review", args=[submitted.pk])))
    assert "0</strong> of <strong>2</strong> approve votes" in review
    assert "first version" in review
    s.record_add(release_id=submitted.pk, record_type="votes", by=cab, decision="approve",
                 signature=Password(PASSWORD))
    queue = html(client.get(reverse("releases:cab_queue")))
    assert "No plan waits for your vote." in queue
    # The requester of an RFC of the release is never asked to vote on it.
    actors.requester.groups.add(Group.objects.get(name="cab_member"))
    assert "No plan waits for your vote." in html(login(actors.requester).get(reverse("releases:cab_queue")))


def test_cab_review_shows_the_diff_against_the_previous_version(login, planning, actors):
    w = Walker(planning, actors)
    w.plan()
    w.add("plans", actors.release_manager, scope="Components listed in the release scope.",
          deployment_start=planning.planned_start + timedelta(hours=4),
          deployment_end=planning.planned_end - timedelta(hours=2),
          deployment_approach="Canary first.", risks="Low.", teams="Build, test and deployment teams.")
    s.release_transition(release_id=planning.pk, name="submit_plan", by=actors.release_manager)
    body = html(login(actors.cab_members[0]).get(reverse("releases:cab_review", args=[planning.pk])))
    assert "Release plan version 2" in body and "changes since version 1" in body
    assert '<ins>Canary first.</ins>' in body
    assert re.search(r'data-field="scope">\s*<dt>Scope</dt>', body)  # unchanged, not marked
    assert re.search(r'data-field="risks">\s*<dt>Risks <span class="badge tone-wait">changed', body)


def test_a_cab_vote_needs_the_password(login, submitted, actors):
    cab = actors.cab_members[0]
    client = login(cab)
    url = reverse("releases:cab_vote", args=[submitted.pk])
    missing = client.post(url, {"vote-decision": "approve", "vote-comment": "ok"})
    assert missing.status_code == 400 and 'id="id_vote-password_error"' in html(missing)
    wrong = client.post(url, {"vote-decision": "approve", "vote-comment": "ok", "password": "guess"})
    assert wrong.status_code == 400 and "That is not your password" in html(wrong)
    assert not CabVote.objects.exists()
    reject_silently = client.post(url, {"vote-decision": "reject", "password": PASSWORD})
    assert reject_silently.status_code == 400 and "Say why you reject the plan." in html(reject_silently)
    ok = client.post(url, {"vote-decision": "approve", "vote-comment": "Risks acceptable.", "password": PASSWORD})
    assert ok.status_code == 302
    vote = CabVote.objects.get()
    assert vote.created_by == cab and vote.decision == "approve"
    # The signature is its own record, never a line appended to the comment.
    assert vote.comment == "Risks acceptable."
    signature = Signature.objects.get(meaning="vote: approve")
    assert (signature.decision, signature.signer, signature.method) == (vote, cab, "password")
    # Not twice on the same version; and never by someone outside the CAB.
    twice = client.post(url, {"vote-decision": "approve", "password": PASSWORD})
    assert twice.status_code == 409 and "already voted" in html(twice)
    assert login(actors.delivery_manager).post(url, {"vote-decision": "approve", "password": PASSWORD}) \
        .status_code == 403


def test_approving_the_plan_needs_the_password_and_is_logged_as_signed(login, submitted, actors):
    for cab in actors.cab_members[:2]:
        s.record_add(release_id=submitted.pk, record_type="votes", by=cab, decision="approve",
                 signature=Password(PASSWORD))
    client = login(actors.cab_members[2])
    page = client.get(reverse("releases:cab_review", args=[submitted.pk]))
    assert "approve_plan" in transition_buttons(page)
    url = reverse("releases:transition", args=[submitted.pk, "approve_plan"])
    response = client.post(url, {"from": "cab"})
    assert response.status_code == 400 and 'id="id_approve_plan-password_error"' in html(response)
    assert "Release plan version" in html(response)  # answered on the CAB page
    response = client.post(url, {"from": "cab", "password": "wrong"})
    assert response.status_code == 400
    submitted.refresh_from_db()
    assert submitted.state == "plan_submitted"
    response = client.post(url, {"from": "cab", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("releases:cab_review",
                                                                            args=[submitted.pk])
    submitted.refresh_from_db()
    assert submitted.state == "plan_approved"
    log = TransitionLog.objects.get(name="approve_plan")
    signature = Signature.objects.get(meaning="approve_plan")
    assert (signature.decision, signature.signer, signature.method) == (log, actors.cab_members[2], "password")
    assert "password" not in log.payload
    history = html(login(actors.release_manager).get(reverse("releases:detail", args=[submitted.pk])))
    assert f"Signed with password by {actors.cab_members[2].username}" in history


def test_go_no_go_needs_the_deciders_password(login, actors, cis):
    release = reach(actors, cis, "ready").release
    s.record_add(release_id=release.pk, record_type="readiness_assessments", by=actors.delivery_manager,
                 risks="Low.")
    rm_page = login(actors.release_manager).get(reverse("releases:detail", args=[release.pk]))
    assert transition_buttons(rm_page) & {"approve_go", "no_go"} == set()  # segregation of duties
    client = login(actors.delivery_manager)
    assert {"approve_go", "no_go"} <= transition_buttons(client.get(reverse("releases:detail", args=[release.pk])))
    url = reverse("releases:transition", args=[release.pk, "no_go"])
    r = client.post(url, {"no_go-reason": "Change freeze by the business.", "password": "nope"})
    assert r.status_code == 400 and "That is not your password" in html(r)
    r = client.post(reverse("releases:transition", args=[release.pk, "approve_go"]),
                    {"password": PASSWORD})
    assert r.status_code == 302
    release.refresh_from_db()
    assert release.state == "go"
    assert release.go_decisions.get().decision == "go"


def test_rollback_authorisation_needs_the_password(login, actors, cis):
    release = reach(actors, cis, "deployed").release
    s.record_add(release_id=release.pk, record_type="rollback_advice", by=actors.delivery_manager,
                 advice="Error rate too high.")
    client = login(actors.release_manager)
    assert "rollback" in transition_buttons(client.get(reverse("releases:detail", args=[release.pk])))
    url = reverse("releases:transition", args=[release.pk, "rollback"])
    assert client.post(url, {}).status_code == 400
    assert client.post(url, {"password": PASSWORD}).status_code == 302
    release.refresh_from_db()
    assert release.state == "rolling_back"


def test_an_emergency_release_may_give_a_freeze_override_reason(login, actors, cis):
    release = reach(actors, cis, "backed_up", release_type="emergency").release
    page = html(login(actors.release_manager).get(reverse("releases:detail", args=[release.pk])))
    assert 'name="start_deployment-freeze_override_reason"' in page
    minor = reach(actors, [ConfigurationItem.objects.create(name="other", version="1")], "backed_up").release
    page = html(login(actors.release_manager).get(reverse("releases:detail", args=[minor.pk])))
    assert "freeze_override_reason" not in page


# --- calendar, RFCs, CMDB -------------------------------------------------------------------------------------------


def test_calendar_month_and_week(login, actors, cis):
    release = reach(actors, cis, "scheduled").release
    client = login(actors.requester)
    day = release.current_plan.deployment_start
    month = html(client.get(reverse("releases:calendar") + f"?date={day:%Y-%m-%d}"))
    assert f"Deploy {release.number}" in month and "Assemble packages" in month
    week = html(client.get(reverse("releases:calendar") + f"?view=week&date={day:%Y-%m-%d}"))
    assert "Week " in week and reverse("releases:detail", args=[release.pk]) in week
    assert client.get(reverse("releases:calendar") + "?view=year&date=nonsense").status_code == 200


def test_calendar_links_the_ical_feed_when_it_exists(login, actors):
    from django.urls import Resolver404, resolve

    body = html(login(actors.requester).get(reverse("releases:calendar")))
    try:
        resolve("/calendar.ics")
    except Resolver404:
        assert "calendar.ics" not in body
    else:
        assert 'href="/calendar.ics"' in body


def test_private_calendar_link_is_made_on_request(login, actors):
    from django.urls import NoReverseMatch

    try:
        reverse("calendar-private-feed", args=["x"])
    except NoReverseMatch:
        pytest.skip("the private iCalendar feed is not served")
    client = login(actors.requester)
    assert "Make my private link" in html(client.get(reverse("releases:calendar")))
    # Only the form's POST makes a link; its address opened by itself goes back to the calendar.
    response = client.get(reverse("releases:calendar_subscription"))
    assert response.status_code == 302 and response["Location"] == reverse("releases:calendar")
    assert 'id="private-feed"' not in html(client.get(reverse("releases:calendar")))
    response = client.post(reverse("releases:calendar_subscription"))
    assert response.status_code == 302
    body = html(client.get(reverse("releases:calendar")))
    match = re.search(r'id="private-feed" type="text" readonly value="([^"]+)"', body)
    assert match and match.group(1).endswith(".ics")
    assert client.get(match.group(1).replace("http://testserver", "")).status_code == 200


def test_cmdb_pages(login, actors, cis):
    release = reach(actors, cis, "closed").release
    client = login(actors.requester)
    api = cis[0]
    page = html(client.get(reverse("cmdb:ci_detail", args=[api.pk])))
    assert release.number in page and "orders-db" in page  # touched by, depends on
    post = Baseline.objects.get(release=release, kind="post_release")
    pre = Baseline.objects.get(release=release, kind="pre_release")
    diff = html(client.get(reverse("cmdb:baseline_detail", args=[post.pk]) + f"?against={pre.pk}"))
    api.refresh_from_db()
    assert f"<ins>{api.version}</ins>" in diff and "changed" in diff
    assert client.get(reverse("cmdb:baseline_list")).status_code == 200
    assert "orders-api" in html(client.get(reverse("cmdb:ci_list") + "?q=orders-a"))


def test_rfc_page_lists_its_releases(login, actors, cis):
    release = reach(actors, cis, "planning").release
    rfc = release.rfcs.get()
    body = html(login(actors.requester).get(reverse("changes:detail", args=[rfc.pk])))
    assert release.number in body
    assert rfc.number in html(login(actors.requester).get(reverse("changes:list") + "?state=open"))


def test_release_page_forms_read_the_same_as_with_djangos_renderer(login, actors, cis, monkeypatch):
    """The release page draws its forms with Django's Jinja2 form renderer
    for speed: the page must read the same as with Django's template
    renderer, forms with errors included (the same markup; the two template
    sets differ only in whitespace between tags)."""
    from django.forms.renderers import DjangoTemplates

    from releases.views import common

    release = reach(actors, cis, "building").release
    client = login(actors.release_manager)
    url = reverse("releases:detail", args=[release.pk])
    bad_task = {"task-title": "", "task-step": "5", "task-planned_start": "not a date"}

    def unstamped(response):
        unstamped = re.sub(r'(csrfmiddlewaretoken" value|nonce)="[^"]*"', "", html(response))
        return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", unstamped))

    def pages():
        invalid = client.post(reverse("releases:task_add", args=[release.pk]), bad_task)
        assert invalid.status_code == 400
        return unstamped(client.get(url)), unstamped(invalid)

    fast = pages()
    assert 'class="record-form"' in fast[0] and "<textarea" in fast[0]
    assert "<select" in fast[1] and 'class="error"' in fast[1]
    monkeypatch.setattr(common, "PAGE_FORM_RENDERER", DjangoTemplates())
    assert pages() == fast


# --- query counts ------------------------------------------------------------------------------------------------------


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_release_page_query_count_is_pinned_and_flat(login, actors, cis):
    release = reach(actors, cis, "building").release
    client = login(actors.release_manager)
    url = reverse("releases:detail", args=[release.pk])

    def add(first, n):
        for i in range(first, first + n):
            s.task_create(release_id=release.pk, by=actors.release_manager, title=f"Extra {i}", step=5,
                          assignee_user=actors.build_team)
            s.record_add(release_id=release.pk, record_type="prerequisite_checks", by=actors.build_team,
                         description=f"Prerequisite {i}", verified=True)
            s.record_add(release_id=release.pk, record_type="test_cases", by=actors.test_team, name=f"Case {i}")

    # The page reads each kind of step record the release has rows of (one
    # query per kind, at most 22); the release's own row says which kinds are
    # empty, and those cost none. So: one row of each kind first, then more.
    add(0, 1)
    client.get(url)  # warm caches (content types, sessions)
    baseline = count_queries(client, url)
    add(1, 5)  # more of everything the page lists: tasks, records
    assert count_queries(client, url) == baseline
    assert baseline == RELEASE_PAGE_QUERIES, f"release page now takes {baseline} queries"


def test_dashboard_query_count_is_pinned_and_flat(login, actors, cis, make_user):
    member = make_user("deployment_team", "cab_member", username="both")
    client = login(member)

    def add(n):
        for i in range(n):
            tag = ConfigurationItem.objects.count()
            reach(actors, [ConfigurationItem.objects.create(name=f"ci-{tag}", version="1.0")], "scheduled").release
            r = reach(actors, [ConfigurationItem.objects.create(name=f"ci-{tag}-b", version="1.0")], "planning").release
            Walker(r, actors).plan()
            s.release_transition(release_id=r.pk, name="submit_plan", by=actors.release_manager)
            s.task_create(release_id=r.pk, by=actors.release_manager, title=f"Mine {tag}", assignee_user=member,
                          planned_start=r.planned_start, planned_end=timezone.now() - timedelta(hours=1))

    add(1)
    client.get("/")
    baseline = count_queries(client, "/")
    add(3)
    body = html(client.get("/"))
    assert body.count("Mine ") >= 4 and body.count('href="/cab/') >= 4
    assert count_queries(client, "/") == baseline
    assert baseline == DASHBOARD_QUERIES, f"dashboard now takes {baseline} queries"


# The pinned counts: a change that adds queries to these pages shows here.
RELEASE_PAGE_QUERIES = 18  # 16, the signatures of the signed steps in its history, and the evidence files
# The dashboard leads with what waits on you: one query per source of the
# queue this user's roles have: CAB votes, Go, role steps, the three records
# a deployment team writes, RFCs to authorise, tasks.
DASHBOARD_QUERIES = 18


def test_editing_the_ticket_keeps_untouched_dates_to_the_second(login, planning, actors):
    start = planning.planned_start
    assert start.second or start.microsecond  # made by the services with the current time
    client = login(actors.release_manager)
    form = client.get(reverse("releases:edit", args=[planning.pk])).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data["planned_start"] = f"{start:%Y-%m-%dT%H:%M}"
    data["planned_end"] = f"{planning.planned_end:%Y-%m-%dT%H:%M}"
    data["rfcs"] = [r.pk for r in planning.rfcs.all()]
    data["title"] = "Renamed"
    assert client.post(reverse("releases:edit", args=[planning.pk]), data).status_code == 302
    planning.refresh_from_db()
    assert planning.title == "Renamed" and planning.planned_start == start
