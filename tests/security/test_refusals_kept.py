"""Every refusal of authority is kept, whatever the door it came through.

A write refused for want of a role, by segregation of duties, or a form for
writing opened by someone who may not write (a refused read-for-write) leaves
one ``RefusedAttempt`` row naming the user, the action, the object where
there is one, and the entry point: ``api``, ``ui``, ``admin`` or ``command``.
The answers themselves are those the contract gives (403 ``forbidden``).

Not refused attempts: a logged-in user without any role of the process who
is turned away from a page they only read (browsing), a wrong state or an
unmet condition (409), and bad input (400).

Every request is made over HTTPS (``secure=True``) so the tests run the same
under the production settings, which redirect plain HTTP.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from changes.models import ChangeRequest, Problem
from changes.services import rfc_create, rfc_transition
from releasemgmt.api import etag_for
from releases import services as s
from releases.models import (
    RECORD_TYPES,
    FreezeWindow,
    OutboxMessage,
    RefusedAttempt,
    Release,
    ReleaseTemplate,
    Task,
)
from releases.scenario import Walker, new_release
from tests.signatures import signature

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_files_without_a_manifest(settings):
    """Pages link their static files through the manifest collectstatic
    writes for a deployment; these tests draw pages without running it."""
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


# --- the world --------------------------------------------------------------------------------------


class World:
    """A release in planning with a plan, a task assigned to the build team,
    a submitted RFC, a problem record, a CI and a template; and the users who
    try what they may not."""

    def __init__(self, actors, cis, make_user):
        self.actors = actors
        self.release = Walker(new_release(actors, cis=cis), actors).to("planning")
        Walker(self.release, actors).plan()
        self.plan = self.release.current_plan
        self.task = s.task_create(release_id=self.release.pk, by=actors.release_manager, title="Package",
                                  step=4, assignee_user=actors.build_team)
        self.rfc = rfc_create(by=actors.requester, title="Another change", description="Not yet assessed.")
        self.ci = cis[0]
        self.template = ReleaseTemplate.objects.create(name="Minor", release_type="minor",
                                                       created_by=actors.release_manager)
        # A problem record needs only its release to be refused an edit.
        other = new_release(actors, title="Failed release")
        self.problem = Problem.objects.create(release=other, created_by=actors.release_manager, title="Why")
        self.freeze = FreezeWindow.objects.create(name="Quarter close", start=timezone.now() + timedelta(days=30),
                                                  end=timezone.now() + timedelta(days=31))
        self.task_type = ContentType.objects.get_for_model(Task).pk
        self.stakeholder = make_user("stakeholder", username="onlooker")
        self.nobody = make_user(username="no-role")


@pytest.fixture
def world(actors, cis, make_user):
    return World(actors, cis, make_user)


def new_rows(before: int) -> list[RefusedAttempt]:
    return list(RefusedAttempt.objects.order_by("id")[before:])


def assert_kept(before, *, by, action, door, subject=None, code="forbidden"):
    """Exactly one refusal was kept since ``before`` rows, and it says who,
    what, on what, why and through which door."""
    rows = new_rows(before)
    assert len(rows) == 1, [(r.action, r.code) for r in rows]
    row = rows[0]
    assert (row.by, row.username, row.action, row.code) == (by, by.username, action, code)
    assert row.entry_point == door
    if subject is not None:
        assert row.subject == subject
    return row


# --- the API: every write a role may not make -------------------------------------------------------


def api_cases(w: World):
    """(who, method, path, body, action, subject) for every forbidden write."""
    a, r, stake = w.actors, w.release, w.stakeholder
    today = date.today()
    cases = [
        (stake, "post", "/api/releases/", {}, "create", None),
        (stake, "patch", f"/api/releases/{r.pk}/", {"title": "Mine now"}, "update", r),
        (stake, "put", f"/api/releases/{r.pk}/", {}, "update", r),
        (stake, "post", f"/api/releases/{r.pk}/scope/", {}, "scope", r),
        (stake, "post", f"/api/releases/{r.pk}/baseline/", {}, "capture_baseline", r),
        (stake, "post", f"/api/releases/{r.pk}/transitions/submit_plan/", {}, "submit_plan", r),
        (stake, "post", f"/api/releases/{r.pk}/transitions/cancel/", {"reason": "Because."}, "cancel", r),
        (stake, "post", "/api/tasks/", {}, "create", None),
        (stake, "patch", f"/api/tasks/{w.task.pk}/", {"title": "Mine"}, "update", w.task),
        # The assignee reports progress; re-planning the work is refused.
        (a.build_team, "patch", f"/api/tasks/{w.task.pk}/", {"title": "Renamed"}, "update", w.task),
        (a.build_team, "put", f"/api/tasks/{w.task.pk}/", {}, "update", w.task),
        (stake, "post", f"/api/tasks/{w.task.pk}/transitions/start/", {}, "start", w.task),
        (w.nobody, "post", "/api/rfcs/", {"title": "X", "description": "Y"}, "create", None),
        (stake, "patch", f"/api/rfcs/{w.rfc.pk}/", {"title": "Mine"}, "update", w.rfc),
        (stake, "put", f"/api/rfcs/{w.rfc.pk}/", {}, "update", w.rfc),
        (stake, "post", f"/api/rfcs/{w.rfc.pk}/transitions/assess/", {}, "assess", w.rfc),
        (stake, "post", "/api/problems/", {}, "open_problem", None),
        (stake, "patch", f"/api/problems/{w.problem.pk}/", {"root_cause": "Them."}, "update", w.problem),
        (stake, "post", f"/api/problems/{w.problem.pk}/transitions/identify_root_cause/", {},
         "identify_root_cause", w.problem),
        (a.release_manager, "post", "/api/cis/", {}, "create", None),
        (a.release_manager, "patch", f"/api/cis/{w.ci.pk}/", {"version": "9"}, "update", w.ci),
        (a.release_manager, "post", f"/api/cis/{w.ci.pk}/transitions/retire/", {}, "retire", w.ci),
        (stake, "post", "/api/release-templates/", {}, "create_template", None),
        (stake, "patch", f"/api/release-templates/{w.template.pk}/", {"name": "Mine"}, "update_template",
         w.template),
        (stake, "get", f"/api/audit/evidence/?from={today - timedelta(days=7)}&to={today}", None,
         "export_audit_evidence", None),
        (stake, "post", "/api/freeze-windows/", {}, "write_freeze_window", None),
        (stake, "patch", f"/api/freeze-windows/{w.freeze.pk}/", {"name": "Mine"}, "write_freeze_window", w.freeze),
        (stake, "delete", f"/api/freeze-windows/{w.freeze.pk}/", None, "write_freeze_window", w.freeze),
    ]
    # Every step record: added by someone who is not among its writers.
    cases += [(stake, "post", f"/api/releases/{r.pk}/{rt}/", {}, "record", r) for rt, model in RECORD_TYPES.items()
              if model.writers]
    return cases


def api_case_ids():
    # Labels only (the world is built per test): method, path shape, who.
    return [
        "create release", "edit release", "replace release", "scope", "baseline capture", "release transition",
        "release cancel", "create task", "edit task (not assignee)", "replan task (assignee)",
        "replace task (assignee)", "task transition", "create rfc (no role)", "edit rfc", "replace rfc",
        "rfc transition", "open problem", "edit problem", "problem transition", "create ci", "edit ci",
        "ci transition", "create template", "edit template", "audit export", "declare freeze", "edit freeze",
        "lift freeze",
        *[f"record {rt}" for rt, model in RECORD_TYPES.items() if model.writers],
    ]


def call_api(user, method, path, body, headers=None):
    client = APIClient()
    client.force_authenticate(user)
    data = None if body is None else json.dumps(body)
    return client.generic(method.upper(), path, data=data or "", content_type="application/json", secure=True,
                          headers=headers)


@pytest.mark.parametrize("index", range(len(api_case_ids())), ids=api_case_ids())
def test_every_forbidden_api_write_is_kept_as_a_refused_attempt(world, index):
    user, method, path, body, action, subject = api_cases(world)[index]
    before = RefusedAttempt.objects.count()

    response = call_api(user, method, path, body)

    assert response.status_code == 403, response.content[:300]
    assert response.json()["code"] == "forbidden"
    assert_kept(before, by=user, action=action, door="api", subject=subject)


def test_a_write_nobody_may_make_is_405_and_not_a_refusal_of_authority(world):
    # Evidence is never edited and a transition writes its own records: the
    # API offers no such write (nor does its schema), whoever asks.
    r = world.release
    for path, method in ((f"/api/releases/{r.pk}/plans/{world.plan.pk}/", "patch"),
                         *[(f"/api/releases/{r.pk}/{rt}/", "post") for rt, model in RECORD_TYPES.items()
                           if not model.writers]):
        before = RefusedAttempt.objects.count()
        response = call_api(world.stakeholder, method, path, {"scope": "Less."})
        assert response.status_code == 405 and response.json()["code"] in ("immutable", "read_only"), path
        assert RefusedAttempt.objects.count() == before


def test_the_api_case_list_names_every_case(world):
    assert len(api_cases(world)) == len(api_case_ids())


def test_a_refusal_under_an_if_match_lock_is_kept(world):
    """With If-Match the write runs inside the lock's transaction, which the
    refusal rolls back: the refusal's row must survive it."""
    release = world.release
    before = RefusedAttempt.objects.count()

    response = call_api(world.stakeholder, "post", f"/api/releases/{release.pk}/transitions/submit_plan/", {},
                        headers={"If-Match": etag_for(Release.objects.get(pk=release.pk))})

    assert response.status_code == 403
    assert_kept(before, by=world.stakeholder, action="submit_plan", door="api", subject=release)


def test_a_stale_if_match_is_a_412_and_not_a_refusal(world):
    rm = world.actors.release_manager
    before = RefusedAttempt.objects.count()
    response = call_api(rm, "patch", f"/api/releases/{world.release.pk}/", {"title": "x"},
                        headers={"If-Match": '"stale"'})
    assert response.status_code == 412
    assert new_rows(before) == []


def test_reading_without_a_role_is_not_a_refused_attempt(world):
    """A logged-in user without any role browsing is turned away (or shown
    nothing) by the read rules: no attempt of an action, no row."""
    before = RefusedAttempt.objects.count()
    client = Client()
    client.force_login(world.nobody)
    for path in (reverse("releases:list"), reverse("releases:detail", args=[world.release.pk]),
                 reverse("changes:list")):
        assert client.get(path, secure=True).status_code == 403, path
    assert new_rows(before) == []


def test_a_write_sent_to_a_page_without_a_role_is_kept(world):
    """Pressing a button (here: the release's submit_plan) without any role is
    an attempt to act, refused at the page's door: kept, with the door."""
    before = RefusedAttempt.objects.count()
    client = Client()
    client.force_login(world.nobody)
    path = reverse("releases:transition", args=[world.release.pk, "submit_plan"])
    assert client.post(path, {}, secure=True).status_code == 403
    assert_kept(before, by=world.nobody, action="submit_plan", door="ui")


# --- the browser UI -----------------------------------------------------------------------------------


def ui_cases(w: World):
    """(who, method, url, data, action, subject) for a sample of the UI's refusals."""
    a, r, stake = w.actors, w.release, w.stakeholder
    today = date.today()
    return [
        (stake, "post", reverse("releases:create"), {"title": "Mine"}, "create", None),
        (stake, "get", reverse("releases:edit", args=[r.pk]), None, "update", r),  # the form for writing
        (stake, "post", reverse("releases:edit", args=[r.pk]), {"title": "Mine"}, "update", r),
        (stake, "post", reverse("releases:transition", args=[r.pk, "submit_plan"]), {}, "submit_plan", r),
        (stake, "get", reverse("releases:record_add", args=[r.pk, "plans"]), None, "record", r),
        (stake, "post", reverse("releases:record_add", args=[r.pk, "plans"]), {"scope": "x"}, "record", r),
        (stake, "post", reverse("releases:record_edit", args=[r.pk, "plans", w.plan.pk]), {"scope": "x"},
         "record", r),
        (stake, "post", reverse("releases:scope_add", args=[r.pk]), {}, "scope", r),
        (stake, "post", reverse("releases:task_add", args=[r.pk]), {}, "create", None),
        (stake, "post", reverse("releases:baseline_capture", args=[r.pk]), {}, "capture_baseline", r),
        (stake, "post", reverse("releases:cab_vote", args=[r.pk]), {"vote-decision": "approve"}, "record", r),
        (stake, "post", reverse("releases:task", args=[w.task.pk]), {"title": "Mine"}, "update", w.task),
        (stake, "post", reverse("releases:task_transition", args=[w.task.pk, "start"]), {}, "start", w.task),
        (stake, "get", reverse("releases:template_create"), None, "create_template", None),
        (stake, "post", reverse("releases:template_edit", args=[w.template.pk]), {}, "update_template", w.template),
        (stake, "get", reverse("releases:audit_export") + f"?from={today}&to={today}", None,
         "export_audit_evidence", None),
        (stake, "get", reverse("changes:edit", args=[w.rfc.pk]), None, "update", w.rfc),
        (stake, "post", reverse("changes:transition", args=[w.rfc.pk, "assess"]), {}, "assess", w.rfc),
        (stake, "post", reverse("changes:problem_detail", args=[w.problem.pk]), {"title": "Mine"}, "update",
         w.problem),
        (stake, "post", reverse("cmdb:ci_add"), {"name": "billing-service"}, "create", None),
    ]


UI_IDS = ["create release", "open release edit form", "edit release", "release transition", "open record form",
          "add record", "edit record", "scope", "plan task", "baseline capture", "cab vote", "edit task",
          "task transition", "open template form", "edit template", "audit export", "open rfc edit form",
          "rfc transition", "edit problem", "register CI"]


@pytest.mark.parametrize("index", range(len(UI_IDS)), ids=UI_IDS)
def test_refusals_in_the_browser_ui_are_kept(world, index):
    user, method, url, data, action, subject = ui_cases(world)[index]
    client = Client()
    client.force_login(user)
    before = RefusedAttempt.objects.count()

    response = getattr(client, method)(url, data, secure=True) if data is not None else \
        getattr(client, method)(url, secure=True)

    assert response.status_code == 403, response.content[:300]
    assert_kept(before, by=user, action=action, door="ui", subject=subject)


def test_the_ui_case_list_names_every_case(world):
    assert len(ui_cases(world)) == len(UI_IDS)


# --- segregation of duties: who raises an RFC counts as its requester ---------------------------------


def admin_transition(obj, name):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_transition", args=[obj.pk, name])


def test_a_change_manager_who_raises_an_rfc_for_someone_cannot_assess_or_authorise_it_in_the_admin(
        staff, make_user):
    """The finding: a change manager adds an RFC in the admin with someone
    else as requester, then assesses and authorises it alone."""
    cm = staff("change_manager", username="cm-admin")
    colleague = make_user("change_manager", username="cm-colleague")
    requester = make_user("stakeholder", username="business-owner")
    client = Client()
    client.force_login(cm)

    response = client.post(reverse("admin:changes_changerequest_add"), {
        "title": "Open the new market", "description": "Raised on the business owner's behalf.",
        "requester": requester.pk, "change_type": "normal", "risk": "low", "impact": "low"}, secure=True)
    assert response.status_code == 302, response.content.decode()[:2000]
    rfc = ChangeRequest.objects.get(title="Open the new market")
    assert (rfc.requester, rfc.raised_by) == (requester, cm)

    before = RefusedAttempt.objects.count()
    client.post(admin_transition(rfc, "assess"), secure=True)
    rfc.refresh_from_db()
    assert rfc.state == "submitted"
    row = assert_kept(before, by=cm, action="assess", door="admin", subject=rfc, code="segregation_of_duties")
    assert "on the requester's behalf" in row.detail

    rfc_transition(rfc_id=rfc.pk, name="assess", by=colleague)
    before = RefusedAttempt.objects.count()
    client.post(admin_transition(rfc, "authorize"), secure=True)
    rfc.refresh_from_db()
    assert rfc.state == "assessed"
    assert_kept(before, by=cm, action="authorize", door="admin", subject=rfc, code="segregation_of_duties")


def test_whoever_raised_an_rfc_may_not_vote_on_or_decide_the_go_of_its_release(actors, cis, make_user):
    member = make_user("cab_member", "delivery_manager", username="raiser")
    rfc = rfc_create(by=member, requester=actors.requester, title="On behalf", description="For the business.")
    assert (rfc.requester, rfc.raised_by) == (actors.requester, member)
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=actors.change_manager, signature=signature())
    release = Walker(new_release(actors, rfcs=[rfc], cis=cis), actors).to("plan_submitted")
    assert member.pk in release.conflicted_user_ids()

    client = Client()
    client.force_login(member)
    before = RefusedAttempt.objects.count()
    response = client.post(reverse("releases:cab_vote", args=[release.pk]),
                           {"vote-decision": "approve", "vote-comment": "Fine.", "password": "pw-test-12345"},
                           secure=True)
    assert response.status_code == 403
    assert_kept(before, by=member, action="vote", door="ui", subject=release, code="segregation_of_duties")
    assert not release.current_plan.votes.exists()

    release = Walker(release, actors).to("ready")
    before = RefusedAttempt.objects.count()
    response = call_api(member, "post", f"/api/releases/{release.pk}/transitions/approve_go/", {})
    assert response.status_code == 403 and response.json()["code"] == "segregation_of_duties"
    assert "segregation_of_duties" in [b["code"] for b in response.json()["blockers"]]
    assert_kept(before, by=member, action="approve_go", door="api", subject=release, code="segregation_of_duties")
    assert Release.objects.get(pk=release.pk).state == "ready"


# --- the admin ----------------------------------------------------------------------------------------


def test_refusals_in_the_admin_are_kept(world, staff):
    """A sample of the admin's doors: an add form, a change form, a
    transition button and an action, each refused by the service."""
    builder = staff("build_team", username="admin-builder")  # may add tasks in the admin, not plan them
    onlooker = staff("stakeholder", username="admin-onlooker")
    release, task = world.release, world.task
    client = Client()

    client.force_login(builder)
    before = RefusedAttempt.objects.count()
    response = client.post(reverse("admin:releases_task_add"),
                           {"release": release.pk, "title": "Mine", "step": "4"}, secure=True)
    assert response.status_code == 403
    assert_kept(before, by=builder, action="create", door="admin")
    assert not Task.objects.filter(title="Mine").exists()

    before = RefusedAttempt.objects.count()
    response = client.post(reverse("admin:releases_task_change", args=[task.pk]), {"title": "Mine"}, secure=True)
    assert response.status_code == 403
    assert_kept(before, by=builder, action="update", door="admin", subject=task)

    client.force_login(onlooker)
    before = RefusedAttempt.objects.count()
    client.post(admin_transition(release, "submit_plan"), secure=True)
    assert Release.objects.get(pk=release.pk).state == "planning"
    assert_kept(before, by=onlooker, action="submit_plan", door="admin", subject=release)

    message = OutboxMessage.objects.create(event="schedule", release=release, content_type_id=world.task_type,
                                           object_id=task.pk, recipient="x@example.test", subject="Scheduled",
                                           dedupe_key="refusal-test", status="failed")
    before = RefusedAttempt.objects.count()
    client.post(reverse("admin:releases_outboxmessage_changelist"),
                {"action": "retry_delivery", "_selected_action": [message.pk]}, secure=True)
    assert_kept(before, by=onlooker, action="retry_delivery", door="admin")
    message.refresh_from_db()
    assert message.status == "failed"


def test_the_admin_shows_the_entry_point_of_refused_attempts(world, make_user):
    superuser = make_user(username="root", is_staff=True, is_superuser=True)
    call_api(world.stakeholder, "post", "/api/releases/", {})
    client = Client()
    client.force_login(superuser)
    response = client.get(reverse("admin:releases_refusedattempt_changelist"), secure=True)
    assert response.status_code == 200
    assert "entry point" in response.content.decode().lower()
    assert ">api<" in response.content.decode()


# --- a management command -----------------------------------------------------------------------------


def test_a_refusal_met_by_a_management_command_is_kept(world):
    today = date.today()
    before = RefusedAttempt.objects.count()
    with pytest.raises(CommandError, match="Only a change manager or release manager"):
        call_command("export_audit_evidence", "--from", str(today), "--to", str(today),
                     "--user", world.stakeholder.username)
    assert_kept(before, by=world.stakeholder, action="export_audit_evidence", door="command")


# --- the audit export ---------------------------------------------------------------------------------


def test_the_export_names_the_door_of_each_refused_attempt(world):
    from audit import export as ax
    from audit.forms import EvidenceRangeForm

    call_api(world.stakeholder, "post", f"/api/releases/{world.release.pk}/transitions/submit_plan/", {})
    today = date.today()
    form = EvidenceRangeForm({"from": str(today - timedelta(days=1)), "to": str(today)})
    assert form.is_valid()
    rows = [dict(zip(ax.COLUMNS, row)) for row in ax.evidence_rows(*form.bounds())]
    (refused,) = [r for r in rows if r["evidence_type"] == "refused_attempt"]
    assert (refused["action"], refused["entry_point"]) == ("submit_plan", "api")
    assert {r["entry_point"] for r in rows if r["evidence_type"] != "refused_attempt"} == {""}


def test_an_approver_who_raised_the_rfc_is_not_independent_in_the_export(actors, cis, make_user):
    """Evidence written before the control held (the guards now refuse it):
    the export still says the raiser's approvals were not independent."""
    from audit import export as ax
    from audit.forms import EvidenceRangeForm
    from releases.models import CabVote, TransitionLog

    cm = make_user("change_manager", "cab_member", username="raiser-cm")
    rfc = rfc_create(by=cm, requester=actors.requester, title="On behalf", description="For the business.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=actors.change_manager, signature=signature())
    release = Walker(new_release(actors, rfcs=[rfc], cis=cis), actors).to("plan_submitted")
    TransitionLog.record(rfc, name="authorize", source="assessed", target="authorized", by=cm,
                         at=release.created_at, reason="")
    CabVote.objects.create(release=release, plan=release.current_plan, created_by=cm, decision="approve")

    today = date.today()
    form = EvidenceRangeForm({"from": str(today - timedelta(days=1)), "to": str(today)})
    assert form.is_valid()
    rows = [dict(zip(ax.COLUMNS, row)) for row in ax.evidence_rows(*form.bounds())]
    approvals = [r for r in rows if r["evidence_type"] in ("rfc_authorisation", "cab_vote")]
    by_actor = {(r["evidence_type"], r["actor"]): r["independent"] for r in approvals}
    assert by_actor[("rfc_authorisation", "raiser-cm")] == "no"
    assert by_actor[("cab_vote", "raiser-cm")] == "no"
    assert by_actor[("rfc_authorisation", actors.change_manager.username)] == "yes"
