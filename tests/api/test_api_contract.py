"""The REST contract of the design's api.md, endpoint by endpoint:
authentication, creation and validation, transitions (list, 409, 403, 404),
who sees and writes what (vendor, stakeholder), ETag / If-Match, closed
steps, pagination and filters. Never a 500."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from changes.models import ChangeRequest
from changes.services import rfc_create, rfc_transition
from releasemgmt.workflow import specs
from releases import services as s
from releases.models import RECORD_TYPES, OutboxMessage, Release, Task, TransitionLog, Vendor
from releases.scenario import Walker, authorised_rfc, new_release
from tests.helpers import iso, reach
from tests.signatures import PASSWORD, signature

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
RECORD_LIST_PATHS = [f"/api/releases/1/{rt}/" for rt in RECORD_TYPES]
LIST_PATHS = ["/api/rfcs/", "/api/releases/", "/api/tasks/", "/api/cis/", "/api/baselines/", "/api/users/",
              "/api/users/me/", "/api/calendar/", *RECORD_LIST_PATHS]


def snapshot(release=None):
    """Everything a refused request must leave as it was."""
    snap = {
        "releases": Release.objects.count(),
        "rfcs": ChangeRequest.objects.count(),
        "tasks": Task.objects.count(),
        "logs": TransitionLog.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "release_history": Release.history.count(),
        "records": {rt: model.objects.count() for rt, model in RECORD_TYPES.items()},
    }
    if release is not None:
        fresh = Release.objects.get(pk=release.pk)
        snap.update(state=fresh.state, updated_at=fresh.updated_at, acceptance=fresh.acceptance_criteria)
    return snap


@pytest.fixture
def rm_client(actors, client_for):
    return client_for(actors.release_manager)


@pytest.fixture
def rfc(actors):
    return authorised_rfc(actors, "Faster checkout")


def release_body(rfc, **over):
    now = timezone.now()
    body = {"title": "Checkout 2.4", "release_type": "minor", "rfcs": [rfc.pk],
            "planned_start": iso(now - timedelta(days=1)), "planned_end": iso(now + timedelta(days=14))}
    body.update(over)
    return body


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("path", LIST_PATHS)
def test_anonymous_requests_get_401_on_every_list(client_for, path):
    response = client_for(None).get(path)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("method, path", [
    ("post", "/api/releases/"), ("post", "/api/rfcs/"), ("post", "/api/releases/1/transitions/start_planning/"),
    ("get", "/api/releases/1/transitions/"), ("post", "/api/releases/1/plans/"), ("patch", "/api/tasks/1/"),
    ("post", "/api/releases/1/baseline/"), ("get", "/api/baselines/1/diff/?other=2"),
])
def test_anonymous_writes_and_actions_get_401(client_for, method, path):
    assert getattr(client_for(None), method)(path, {}, format="json").status_code == 401


def test_the_schema_needs_a_login_in_production(client_for, actors, settings):
    # Production maps the whole API only for logged-in clients: anonymous get 401.
    settings.API_SCHEMA_PUBLIC = False
    assert client_for(None).get("/api/schema/").status_code == 401
    response = client_for(actors.requester).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/releases/{id}/transitions/{name}/" in response.content


def test_the_interactive_docs_need_a_login_in_production(client_for, actors, client, settings):
    settings.API_SCHEMA_PUBLIC = False
    assert client_for(None).get("/api/docs/").status_code == 401
    assert client_for(actors.release_manager).get("/api/docs/").status_code == 200
    client.force_login(actors.requester)
    assert client.get("/api/docs/").status_code == 200  # the browser's session


def test_a_token_is_issued_for_a_username_and_password_and_authenticates(client_for, actors):
    anonymous = client_for(None)
    response = anonymous.post("/api/auth/token/", {"username": "rm", "password": "pw-test-12345"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["token"]

    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = anonymous.get("/api/users/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "rm" and me.json()["roles"] == ["release_manager"]

    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert anonymous.get("/api/releases/").status_code == 401


def test_a_wrong_password_gets_400_and_no_token(client_for, actors):
    response = client_for(None).post("/api/auth/token/", {"username": "rm", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    missing = client_for(None).post("/api/auth/token/", {}, format="json")
    assert missing.status_code == 400 and {"username", "password"} <= set(missing.json())


# --- creating RFCs and releases -------------------------------------------------------------


def test_an_rfc_is_raised_with_title_and_description(client_for, actors):
    response = client_for(actors.requester).post(
        "/api/rfcs/", {"title": "Faster checkout", "description": "Cache basket totals."}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "submitted" and body["requester"] == actors.requester.pk
    assert body["number"] == f"RFC-{body['id']:05d}"
    assert response["ETag"]


def test_an_rfc_without_title_and_description_gets_400_and_nothing_is_created(client_for, actors):
    before = snapshot()
    response = client_for(actors.requester).post("/api/rfcs/", {"risk": "extreme"}, format="json")
    assert response.status_code == 400
    assert {"title", "description", "risk"} <= set(response.json())
    assert snapshot() == before


def test_a_release_is_raised_with_title_type_and_rfcs(rm_client, rfc, actors):
    response = rm_client.post("/api/releases/", release_body(rfc), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "new" and body["step"] == 1 and body["rfcs"] == [rfc.pk]
    assert body["release_manager"] == actors.release_manager.pk
    assert body["number"] == f"REL-{body['id']:05d}"
    assert response["ETag"]


OMIT = object()


@pytest.mark.parametrize("over, field", [
    ({"rfcs": OMIT}, "rfcs"),
    ({"title": OMIT}, "title"),
    ({"release_type": OMIT}, "release_type"),
    ({"rfcs": None}, "rfcs"),
    ({"rfcs": []}, "rfcs"),
    ({"rfcs": [999999]}, "rfcs"),
    ({"rfcs": "1"}, "rfcs"),
    ({"rfcs": [{"id": 1}]}, "rfcs"),
    ({"release_type": "huge"}, "release_type"),
    ({"release_type": None}, "release_type"),
    ({"title": None}, "title"),
    ({"title": ""}, "title"),
    ({"title": {"a": 1}}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"planned_start": "tomorrow"}, "planned_start"),
    ({"planned_start": 12345}, "planned_start"),
    ({"planned_end": "2020-01-01T00:00:00Z"}, "planned_end"),
    ({"release_manager": 999999}, "release_manager"),
    ({"description": ["not", "text"]}, "description"),
])
def test_bad_release_input_gets_400_with_the_field_and_nothing_is_created(rm_client, rfc, over, field):
    body = {k: v for k, v in release_body(rfc, **over).items() if v is not OMIT}
    before = snapshot()
    response = rm_client.post("/api/releases/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert snapshot() == before


def test_a_release_manager_who_is_not_one_gets_400(rm_client, rfc, make_user):
    tester = make_user("test_team")
    response = rm_client.post("/api/releases/", release_body(rfc, release_manager=tester.pk), format="json")
    assert response.status_code == 400 and "release_manager" in response.json()


def test_a_release_of_a_rejected_rfc_gets_400(rm_client, actors):
    rfc = rfc_create(by=actors.requester, title="Bad idea", description="No.")
    rfc_transition(rfc_id=rfc.pk, name="reject", by=actors.change_manager, reason="Out of scope.",
                   signature=signature())
    before = snapshot()
    response = rm_client.post("/api/releases/", release_body(rfc), format="json")
    assert response.status_code == 400 and "rfcs" in response.json()
    assert snapshot() == before


@pytest.mark.parametrize("raw", ['{"title": ', "not json at all", '{"title": "x",}'])
def test_malformed_json_gets_400(rm_client, raw):
    before = snapshot()
    response = rm_client.post("/api/releases/", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert snapshot() == before


def test_a_json_list_instead_of_an_object_gets_400(rm_client, rfc):
    response = rm_client.post("/api/releases/", [release_body(rfc)], format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()


def test_a_release_cannot_lose_all_its_rfcs(rm_client, actors, rfc):
    release = new_release(actors, rfcs=[rfc])
    response = rm_client.patch(f"/api/releases/{release.pk}/", {"rfcs": []}, format="json")
    assert response.status_code == 400 and "rfcs" in response.json()
    assert list(release.rfcs.values_list("pk", flat=True)) == [rfc.pk]


def test_planned_end_before_start_is_refused_on_edit_too(rm_client, actors):
    release = new_release(actors)
    response = rm_client.patch(f"/api/releases/{release.pk}/",
                               {"planned_end": iso(release.planned_start - H)}, format="json")
    assert response.status_code == 400 and "planned_end" in response.json()


# --- transitions -------------------------------------------------------------------------------


def expected_names(release):
    return {n for n, spec in specs(Release).items() if release.state in spec.sources and not spec.internal}


def test_the_transition_list_has_every_transition_of_the_state(rm_client, actors, cis):
    release = reach(actors, cis, "testing").release
    rows = rm_client.get(f"/api/releases/{release.pk}/transitions/").json()
    assert {r["name"] for r in rows} == expected_names(release) == {"pass_tests", "fail_tests", "cancel"}
    for row in rows:
        assert {"name", "target", "step", "allowed", "blockers"} <= set(row)
        for blocker in row["blockers"]:
            assert set(blocker) == {"code", "message"}
    by_name = {r["name"]: r for r in rows}
    assert by_name["pass_tests"] == {**by_name["pass_tests"], "target": "tests_passed", "step": 7, "allowed": False}
    assert {b["code"] for b in by_name["pass_tests"]["blockers"]} == {"test_not_run"}
    assert by_name["fail_tests"]["blockers"][0]["code"] == "no_failed_test"
    assert by_name["cancel"]["allowed"] is True and by_name["cancel"]["reason_required"] is True


@pytest.mark.parametrize("state", ["new", "planning", "plan_submitted", "ready", "deployed", "in_review",
                                   "succeeded", "closed"])
def test_the_transition_list_matches_the_state_machine_in_every_state(rm_client, actors, cis, state):
    release = reach(actors, cis, state).release
    rows = rm_client.get(f"/api/releases/{release.pk}/transitions/").json()
    assert {r["name"] for r in rows} == expected_names(release)


def test_a_user_who_may_not_sees_allowed_false_with_the_role_blocker(client_for, actors, make_user):
    release = new_release(actors)
    rows = client_for(make_user("stakeholder")).get(f"/api/releases/{release.pk}/transitions/").json()
    start = {r["name"]: r for r in rows}["start_planning"]
    assert start["allowed"] is False
    assert start["blockers"][0]["code"] == "role_forbidden"


def test_a_transition_returns_the_updated_release(rm_client, actors):
    release = new_release(actors)
    response = rm_client.post(f"/api/releases/{release.pk}/transitions/start_planning/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "planning" and response.json()["step"] == 2
    assert response["ETag"]
    log = TransitionLog.objects.get(object_id=release.pk, name="start_planning")
    assert (log.source, log.target, log.by) == ("new", "planning", actors.release_manager)


def test_the_reason_is_recorded(rm_client, actors):
    release = new_release(actors)
    response = rm_client.post(f"/api/releases/{release.pk}/transitions/cancel/",
                              {"reason": "Superseded by REL-9."}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert TransitionLog.objects.get(object_id=release.pk, name="cancel").reason == "Superseded by REL-9."


def test_a_blocked_transition_gets_409_with_blockers_and_nothing_changes(rm_client, actors):
    release = new_release(actors)
    s.release_transition(release_id=release.pk, name="start_planning", by=actors.release_manager)
    before = snapshot(release)
    response = rm_client.post(f"/api/releases/{release.pk}/transitions/submit_plan/", {}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"detail", "code", "blockers"}
    assert body["code"] == "blocked"
    assert body["blockers"] == [{"code": "plan_missing", "message": "No release plan has been written yet."}]
    assert snapshot(release) == before


def test_a_transition_the_state_does_not_allow_gets_409_invalid_state(rm_client, actors):
    release = new_release(actors)
    before = snapshot(release)
    response = rm_client.post(f"/api/releases/{release.pk}/transitions/start_build/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert response.json()["blockers"][0]["code"] == "invalid_state"
    assert snapshot(release) == before


def test_a_missing_reason_gets_400_reason_required(rm_client, actors):
    release = new_release(actors)
    before = snapshot(release)
    response = rm_client.post(f"/api/releases/{release.pk}/transitions/cancel/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "A reason must be given for this step.", "code": "reason_required",
                                "blockers": [{"code": "reason_required",
                                              "message": "A reason must be given for this step."}],
                                "reason": ["A reason must be given for this step."]}
    assert snapshot(release) == before


def test_a_role_that_may_not_gets_403_and_nothing_changes(client_for, actors):
    release = new_release(actors)
    before = snapshot(release)
    response = client_for(actors.build_team).post(f"/api/releases/{release.pk}/transitions/start_planning/",
                                                  {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert set(response.json()) == {"detail", "code", "blockers"}
    assert snapshot(release) == before


def test_segregation_of_duties_gets_403_for_a_cab_member_who_requested_the_rfc(client_for, actors, cis, make_user):
    both = make_user("cab_member", "change_manager")
    rfc = rfc_create(by=both, title="Mine", description="My own change.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=actors.change_manager, signature=signature())
    release = reach(actors, cis, "plan_submitted", rfcs=[rfc]).release
    response = client_for(both).post(f"/api/releases/{release.pk}/transitions/approve_plan/", {}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "segregation_of_duties"
    assert {b["code"] for b in response.json()["blockers"]} == {"segregation_of_duties"}


@pytest.mark.parametrize("name", ["fly_to_the_moon", "Start-Planning", "schedule2"])
def test_an_unknown_transition_gets_404(rm_client, actors, name):
    release = new_release(actors)
    before = snapshot(release)
    response = rm_client.post(f"/api/releases/{release.pk}/transitions/{name}/", {}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] in ("unknown_transition", "not_found")
    assert snapshot(release) == before


@pytest.mark.parametrize("method, path", [
    ("get", "/api/releases/999999/"), ("patch", "/api/releases/999999/"),
    ("get", "/api/releases/999999/transitions/"), ("post", "/api/releases/999999/transitions/start_planning/"),
    ("get", "/api/releases/999999/scope/"), ("post", "/api/releases/999999/scope/"),
    ("post", "/api/releases/999999/baseline/"), ("get", "/api/releases/999999/plans/"),
    ("post", "/api/releases/999999/plans/"), ("get", "/api/releases/1/plans/999999/"),
    ("get", "/api/rfcs/999999/"), ("post", "/api/rfcs/999999/transitions/assess/"), ("get", "/api/tasks/999999/"),
    ("get", "/api/cis/999999/"), ("get", "/api/baselines/999999/"), ("get", "/api/users/999999/"),
])
def test_an_unknown_object_gets_404(rm_client, method, path):
    response = getattr(rm_client, method)(path, {}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_rfc_transitions_follow_the_same_shape(client_for, actors):
    rfc = rfc_create(by=actors.requester, title="Faster checkout", description="Cache.")
    rows = client_for(actors.change_manager).get(f"/api/rfcs/{rfc.pk}/transitions/").json()
    assert {r["name"] for r in rows} == {"assess", "reject", "cancel"}
    own = client_for(actors.requester).get(f"/api/rfcs/{rfc.pk}/transitions/").json()
    assert not {r["name"]: r for r in own}["assess"]["allowed"]
    internal = client_for(actors.change_manager).post(f"/api/rfcs/{rfc.pk}/transitions/schedule/", {}, format="json")
    assert internal.status_code == 403
    ok = client_for(actors.change_manager).post(f"/api/rfcs/{rfc.pk}/transitions/assess/", {}, format="json")
    assert ok.status_code == 200 and ok.json()["state"] == "assessed"


# --- vendors ------------------------------------------------------------------------------------


@pytest.fixture
def vendor_setup(actors, cis, make_user):
    release = reach(actors, cis, "scheduled").release
    # No scope: two releases changing the same CIs in one window conflict.
    other_release = reach(actors, [], "scheduled", title="Another release").release
    acme_user, other_user = make_user("vendor"), make_user("vendor")
    acme, other = Vendor.objects.create(name="Acme"), Vendor.objects.create(name="Globex")
    acme.users.add(acme_user)
    other.users.add(other_user)
    window = dict(planned_start=release.planned_start + 3 * H, planned_end=release.planned_end - 3 * H)
    mine = s.task_create(release_id=release.pk, by=actors.release_manager, title="Acme gateway", step=12,
                         assignee_vendor=acme, **window)
    theirs = s.task_create(release_id=other_release.pk, by=actors.release_manager, title="Globex job", step=12,
                           assignee_vendor=other, **window)
    return {"user": acme_user, "mine": mine, "theirs": theirs, "release": release, "other_release": other_release}


def test_a_vendor_sees_only_its_own_tasks(client_for, vendor_setup):
    vendor = client_for(vendor_setup["user"])
    listed = vendor.get("/api/tasks/").json()["results"]
    assert [t["id"] for t in listed] == [vendor_setup["mine"].pk]
    assert vendor.get(f"/api/tasks/{vendor_setup['mine'].pk}/").status_code == 200
    theirs = vendor_setup["theirs"].pk
    assert vendor.get(f"/api/tasks/{theirs}/").status_code == 404
    assert vendor.get(f"/api/tasks/{theirs}/transitions/").status_code == 404
    assert vendor.post(f"/api/tasks/{theirs}/transitions/start/", {}, format="json").status_code == 404
    assert vendor.patch(f"/api/tasks/{theirs}/", {"vendor_ticket_ref": "X"}, format="json").status_code == 404


def test_a_vendor_sees_only_the_releases_rfcs_and_cis_of_its_work(client_for, vendor_setup, cis, actors):
    vendor = client_for(vendor_setup["user"])
    assert [r["id"] for r in vendor.get("/api/releases/").json()["results"]] == [vendor_setup["release"].pk]
    assert vendor.get(f"/api/releases/{vendor_setup['other_release'].pk}/").status_code == 404
    assert vendor.get(f"/api/releases/{vendor_setup['other_release'].pk}/plans/").status_code == 404
    rfcs = {r["id"] for r in vendor.get("/api/rfcs/").json()["results"]}
    assert rfcs == set(vendor_setup["release"].rfcs.values_list("pk", flat=True))
    assert {c["id"] for c in vendor.get("/api/cis/").json()["results"]} == {c.pk for c in cis}
    assert [u["id"] for u in vendor.get("/api/users/").json()["results"]] == [vendor_setup["user"].pk]


def test_a_vendor_updates_its_ticket_reference_and_works_its_task(client_for, vendor_setup):
    vendor = client_for(vendor_setup["user"])
    task = vendor_setup["mine"].pk
    response = vendor.patch(f"/api/tasks/{task}/", {"vendor_ticket_ref": "ACME-4711"}, format="json")
    assert response.status_code == 200 and response.json()["vendor_ticket_ref"] == "ACME-4711"
    rows = {r["name"]: r for r in vendor.get(f"/api/tasks/{task}/transitions/").json()}
    assert rows["start"]["allowed"] and not rows["cancel"]["allowed"]
    assert vendor.post(f"/api/tasks/{task}/transitions/start/", {}, format="json").json()["state"] == "in_progress"
    assert vendor.post(f"/api/tasks/{task}/transitions/complete/", {}, format="json").json()["state"] == "done"
    assert vendor.post(f"/api/tasks/{task}/transitions/cancel/", {"reason": "x"}, format="json").status_code == 403


def test_a_vendor_may_not_replan_its_task(client_for, vendor_setup):
    vendor = client_for(vendor_setup["user"])
    task = vendor_setup["mine"]
    response = vendor.patch(f"/api/tasks/{task.pk}/", {"title": "Renamed", "vendor_ticket_ref": "A-1"},
                            format="json")
    assert response.status_code == 403 and "title" in response.json()["detail"]
    task.refresh_from_db()
    assert (task.title, task.vendor_ticket_ref) == ("Acme gateway", "")
    assert client_for(vendor_setup["user"]).post("/api/tasks/", {}, format="json").status_code == 403


# --- stakeholders read, and nothing else ------------------------------------------------------------


@pytest.fixture
def stakeholder(make_user, client_for):
    return client_for(make_user("stakeholder"))


def test_a_stakeholder_reads_everything(stakeholder, actors, cis):
    release = reach(actors, cis, "building").release
    task = release.tasks.first()
    paths = ["/api/releases/", f"/api/releases/{release.pk}/", f"/api/releases/{release.pk}/transitions/",
             f"/api/releases/{release.pk}/scope/", "/api/rfcs/", "/api/tasks/", f"/api/tasks/{task.pk}/",
             "/api/cis/", "/api/baselines/", "/api/users/", "/api/users/me/",
             *[f"/api/releases/{release.pk}/{rt}/" for rt in RECORD_TYPES]]
    for path in paths:
        assert stakeholder.get(path).status_code == 200, path


@pytest.mark.parametrize("body", [{}, {"title": "x"}, "garbage"])
def test_every_write_of_a_stakeholder_gets_403(stakeholder, actors, cis, body):
    release = reach(actors, cis, "building").release
    task = release.tasks.first()
    rfc = release.rfcs.first()
    plan = release.current_plan
    ci = cis[0]
    before = snapshot(release)
    writes = [
        ("post", "/api/releases/"), ("patch", f"/api/releases/{release.pk}/"), ("put", f"/api/releases/{release.pk}/"),
        ("post", f"/api/releases/{release.pk}/scope/"), ("post", f"/api/releases/{release.pk}/baseline/"),
        ("post", "/api/tasks/"), ("patch", f"/api/tasks/{task.pk}/"),
        ("post", f"/api/tasks/{task.pk}/transitions/start/"), ("post", "/api/cis/"), ("patch", f"/api/cis/{ci.pk}/"),
        ("post", f"/api/cis/{ci.pk}/transitions/retire/"), ("patch", f"/api/rfcs/{rfc.pk}/"),
        ("post", f"/api/rfcs/{rfc.pk}/transitions/cancel/"),
        *[("post", f"/api/releases/{release.pk}/{rt}/") for rt, model in RECORD_TYPES.items() if model.writers],
        *[("post", f"/api/releases/{release.pk}/transitions/{name}/") for name in specs(Release)],
    ]
    # Writes nobody may make are not offered at all: 405, whoever asks.
    for method, path in [("patch", f"/api/releases/{release.pk}/plans/{plan.pk}/"),
                         *[("post", f"/api/releases/{release.pk}/{rt}/") for rt, model in RECORD_TYPES.items()
                           if not model.writers]]:
        assert getattr(stakeholder, method)(path, body, format="json").status_code == 405, path
    for method, path in writes:
        if body == "garbage":
            response = getattr(stakeholder, method)(path, "{", content_type="application/json")
            # A body that cannot be parsed is a 400 only where it is read
            # before the role is known (the transition's reason).
            assert response.status_code in (400, 403), (path, response.content)
            if response.status_code == 400:
                assert "/transitions/" in path
            continue
        response = getattr(stakeholder, method)(path, body, format="json")
        if body and "/transitions/" in path:
            # A transition reads its small body first: a field it does not
            # take is a 400, before the role is known.
            assert response.status_code == 400 and response.json()["code"] == "unknown_field", path
            continue
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["code"] == "forbidden"
    assert snapshot(release) == before


def test_a_stakeholder_may_raise_an_rfc_as_its_requester(stakeholder):
    # The RFC's requester is usually a business stakeholder: raising a change
    # is the one write a stakeholder makes (changes.services.rfc_create).
    response = stakeholder.post("/api/rfcs/", {"title": "Need X", "description": "Because Y."}, format="json")
    assert response.status_code == 201


def test_a_user_without_a_role_cannot_raise_an_rfc(make_user, client_for):
    response = client_for(make_user()).post("/api/rfcs/", {"title": "X", "description": "Y"}, format="json")
    assert response.status_code == 403


# --- ETag and If-Match --------------------------------------------------------------------------


def test_detail_responses_carry_an_etag_and_a_stale_if_match_gets_412(rm_client, actors):
    release = new_release(actors)
    first = rm_client.get(f"/api/releases/{release.pk}/")
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')

    ok = rm_client.patch(f"/api/releases/{release.pk}/", {"description": "First edit."}, format="json",
                         headers={"If-Match": etag})
    assert ok.status_code == 200 and ok["ETag"] != etag
    assert ok["ETag"] == rm_client.get(f"/api/releases/{release.pk}/")["ETag"]

    before = snapshot(release)
    stale = rm_client.patch(f"/api/releases/{release.pk}/", {"description": "Lost update."}, format="json",
                            headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert snapshot(release) == before
    assert Release.objects.get(pk=release.pk).description == "First edit."

    stale_transition = rm_client.post(f"/api/releases/{release.pk}/transitions/start_planning/", {},
                                      format="json", headers={"If-Match": etag})
    assert stale_transition.status_code == 412
    assert snapshot(release) == before
    fresh = rm_client.post(f"/api/releases/{release.pk}/transitions/start_planning/", {}, format="json",
                           headers={"If-Match": ok["ETag"]})
    assert fresh.status_code == 200


def test_etags_on_tasks_rfcs_cis_and_records(rm_client, client_for, actors, cis):
    release = reach(actors, cis, "planning").release
    plan = release.current_plan or s.record_add(
        release_id=release.pk, record_type="plans", by=actors.release_manager, scope="x")
    task = s.task_create(release_id=release.pk, by=actors.release_manager, title="T")
    rfc = release.rfcs.first()
    for path in (f"/api/tasks/{task.pk}/", f"/api/rfcs/{rfc.pk}/", f"/api/cis/{cis[0].pk}/",
                 f"/api/releases/{release.pk}/plans/{plan.pk}/"):
        assert rm_client.get(path)["ETag"], path
    stale = rm_client.patch(f"/api/tasks/{task.pk}/", {"title": "New"}, format="json", headers={"If-Match": '"x"'})
    assert stale.status_code == 412
    task.refresh_from_db()
    assert task.title == "T"
    etag = rm_client.get(f"/api/tasks/{task.pk}/")["ETag"]
    assert rm_client.patch(f"/api/tasks/{task.pk}/", {"title": "New"}, format="json",
                           headers={"If-Match": etag}).status_code == 200


# --- closed steps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("record_type, who, data", [
    ("build_documents", "build_team", {"build_install_test_plans": "late"}),
    ("build_documents", "build_team", {}),
    ("plans", "release_manager", {"scope": "late"}),
    ("votes", "cab_members", {"decision": "approve"}),
    ("test_cases", "test_team", {"name": "late"}),
    ("security_checks", "build_team", {"passed": True}),
])
def test_a_record_written_after_its_step_gets_409_invalid_state(client_for, actors, cis, record_type, who, data):
    release = reach(actors, cis, "tests_passed" if record_type != "plans" else "scheduled").release
    user = getattr(actors, who)
    user = user[2] if isinstance(user, list) else user
    before = snapshot(release)
    response = client_for(user).post(f"/api/releases/{release.pk}/{record_type}/", data, format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "invalid_state"
    assert body["blockers"][0]["code"] == "step_closed"
    assert snapshot(release) == before


def test_editing_a_record_after_its_step_gets_409(client_for, actors, cis):
    release = reach(actors, cis, "built").release
    doc = release.build_document
    response = client_for(actors.build_team).patch(f"/api/releases/{release.pk}/build_documents/{doc.pk}/",
                                                   {"monitoring_qa": "changed"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"
    doc.refresh_from_db()
    assert doc.monitoring_qa != "changed"


def test_evidence_is_never_edited(client_for, actors, cis):
    release = reach(actors, cis, "planning").release
    plan = s.record_add(release_id=release.pk, record_type="plans", by=actors.release_manager, scope="v1")
    response = client_for(actors.release_manager).patch(f"/api/releases/{release.pk}/plans/{plan.pk}/",
                                                        {"scope": "rewritten"}, format="json")
    assert response.status_code == 405 and response.json()["code"] == "immutable"
    assert response.json()["blockers"][0]["code"] == "immutable"
    plan.refresh_from_db()
    assert plan.scope == "v1"


def test_records_written_by_transitions_are_refused_by_hand(rm_client, actors, cis):
    release = reach(actors, cis, "ready").release
    for record_type in ("go_decisions", "deployments"):
        response = rm_client.post(f"/api/releases/{release.pk}/{record_type}/", {"decision": "go"}, format="json")
        assert response.status_code == 405 and response.json()["code"] == "read_only"
    assert not release.go_decisions.exists() and not release.deployments.exists()


def test_a_scope_change_after_packaging_gets_409(rm_client, actors, cis):
    release = reach(actors, cis, "packaging").release
    response = rm_client.post(f"/api/releases/{release.pk}/scope/", {"ci": cis[0].pk, "target_version": "9"},
                              format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_the_pre_release_baseline_is_captured_once(client_for, actors, cis):
    release = reach(actors, cis, "building").release
    confman = client_for(actors.configuration_manager)
    first = confman.post(f"/api/releases/{release.pk}/baseline/")
    assert first.status_code == 201 and first.json()["kind"] == "pre_release"
    response = confman.post(f"/api/releases/{release.pk}/baseline/")
    assert response.status_code == 409 and response.json()["code"] == "duplicate"
    assert response.json()["blockers"][0]["code"] == "baseline_exists"


def test_a_vote_with_an_unknown_decision_gets_400(client_for, actors, cis):
    release = reach(actors, cis, "plan_submitted").release
    response = client_for(actors.cab_members[0]).post(f"/api/releases/{release.pk}/votes/",
                                                      {"decision": "maybe"}, format="json")
    assert response.status_code == 400 and "decision" in response.json()


# --- pagination ------------------------------------------------------------------------------------


def test_page_size_is_capped_at_200(rm_client, actors):
    ChangeRequest.objects.bulk_create(
        [ChangeRequest(title=f"RFC {i}", description="d", requester=actors.requester) for i in range(205)])
    page = rm_client.get("/api/rfcs/?page_size=1000").json()
    assert page["count"] == 205 and len(page["results"]) == 200 and page["next"]
    assert len(rm_client.get("/api/rfcs/?page_size=7").json()["results"]) == 7
    assert len(rm_client.get("/api/rfcs/").json()["results"]) == 50
    assert rm_client.get("/api/rfcs/?page=99").status_code == 404


def test_task_pages_are_cursor_based_and_capped(rm_client, actors):
    release = new_release(actors)
    Task.objects.bulk_create([Task(release=release, title=f"T{i}") for i in range(205)])
    page = rm_client.get("/api/tasks/?page_size=1000").json()
    assert len(page["results"]) == 200 and page["next"] and "cursor=" in page["next"]
    rest = rm_client.get(page["next"]).json()
    assert len(rest["results"]) == 5 and rest["next"] is None
    assert rm_client.get("/api/tasks/?cursor=garbage").status_code == 404


# --- filters ---------------------------------------------------------------------------------------


def ids(response):
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


def test_release_filters(rm_client, actors, cis, make_user):
    now = timezone.now()
    other_rm = make_user("release_manager")
    a = new_release(actors, title="A", release_type="minor", cis=[cis[0]], now=now)
    b = new_release(actors, title="B", release_type="major", now=now + timedelta(days=60))
    c = s.release_create(by=other_rm, title="C", release_type="emergency",
                         rfcs=[authorised_rfc(actors, "c")], planned_start=now + timedelta(days=200),
                         planned_end=now + timedelta(days=201))
    s.release_transition(release_id=b.pk, name="start_planning", by=actors.release_manager)

    assert ids(rm_client.get("/api/releases/?state=planning")) == {b.pk}
    assert ids(rm_client.get("/api/releases/?state=planning&state=new")) == {a.pk, b.pk, c.pk}
    assert ids(rm_client.get("/api/releases/?release_type=major")) == {b.pk}
    assert ids(rm_client.get(f"/api/releases/?release_manager={other_rm.pk}")) == {c.pk}
    assert ids(rm_client.get(f"/api/releases/?ci={cis[0].pk}")) == {a.pk}
    after = iso(now + timedelta(days=30))
    before = iso(now + timedelta(days=100))
    assert ids(rm_client.get(f"/api/releases/?planned_after={after}")) == {b.pk, c.pk}
    assert ids(rm_client.get(f"/api/releases/?planned_before={before}")) == {a.pk, b.pk}
    assert ids(rm_client.get(f"/api/releases/?planned_after={after}&planned_before={before}")) == {b.pk}
    assert ids(rm_client.get(f"/api/releases/?rfc={a.rfcs.first().pk}")) == {a.pk}
    assert ids(rm_client.get("/api/releases/?search=B")) >= {b.pk}
    assert [r["title"] for r in rm_client.get("/api/releases/?ordering=title").json()["results"]] == ["A", "B", "C"]


@pytest.mark.parametrize("query", ["state=flying", "release_type=huge", "release_manager=abc", "ci=x",
                                   "planned_after=yesterday", "planned_before=2020-13-45"])
def test_a_bad_filter_value_gets_400(rm_client, query):
    response = rm_client.get(f"/api/releases/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_task_rfc_ci_and_baseline_filters(rm_client, actors, cis):
    release = reach(actors, cis, "built").release
    other = new_release(actors, title="Other")
    tasks = ids(rm_client.get(f"/api/tasks/?release={release.pk}"))
    assert tasks == set(release.tasks.values_list("pk", flat=True)) and tasks
    assert ids(rm_client.get(f"/api/tasks/?release={release.pk}&state=done&step=4")) == set(
        release.tasks.filter(step=4).values_list("pk", flat=True))
    assert ids(rm_client.get(f"/api/rfcs/?release={other.pk}")) == set(other.rfcs.values_list("pk", flat=True))
    assert ids(rm_client.get("/api/rfcs/?state=scheduled")) == set(release.rfcs.values_list("pk", flat=True))
    assert ids(rm_client.get("/api/rfcs/?state=authorized")) == set(other.rfcs.values_list("pk", flat=True))
    assert ids(rm_client.get("/api/cis/?ci_type=database")) == {cis[1].pk}
    assert ids(rm_client.get(f"/api/baselines/?release={release.pk}&kind=pre_release")) == {
        release.pre_release_baseline.pk}
    assert ids(rm_client.get(f"/api/baselines/?release={other.pk}")) == set()


# --- never a 500 -----------------------------------------------------------------------------------


GARBAGE = [None, "", "x" * 5000, 12345, -1, 1.5, True, [], [1, 2], {"a": 1}, "2020-13-45T99:00:00Z"]


@pytest.fixture
def boss(make_user, client_for):
    """A user who holds every role but vendor and stakeholder."""
    return client_for(make_user("release_manager", "change_manager", "cab_member", "build_team", "test_team",
                                "deployment_team", "configuration_manager", "delivery_manager"))


def fuzz(client, method, path, fields, base=None):
    """Each field with each garbage value, alone and (with ``base``) in an
    otherwise valid body: never a 500. Returns the statuses seen."""
    seen = set()
    for name in fields:
        for value in GARBAGE:
            response = getattr(client, method)(path, {name: value}, format="json")
            assert response.status_code < 500, (method, path, name, value, response.content)
            seen.add(response.status_code)
            if base is None:
                continue
            response = getattr(client, method)(path, {**base, name: value}, format="json")
            assert response.status_code < 500, (method, path, name, value, response.content)
            seen.add(response.status_code)
    for raw in ("[1]", "{", '"text"', "null"):
        response = getattr(client, method)(path, raw, content_type="application/json")
        assert response.status_code < 500, (method, path, raw, response.content)
        seen.add(response.status_code)
    return seen


def writable(serializer_class):
    return [name for name, f in serializer_class().fields.items() if not f.read_only]


def test_garbage_in_any_field_of_the_main_endpoints_is_a_400(boss, actors, cis):
    from changes.api import RfcSerializer
    from cmdb.api import CISerializer
    from releases.api.serializers import ReleaseSerializer, ScopeItemSerializer, TaskSerializer

    release = reach(actors, cis, "scheduled").release
    task = release.tasks.first()
    targets = [("post", "/api/releases/", ReleaseSerializer),
               ("patch", f"/api/releases/{release.pk}/", ReleaseSerializer),
               ("post", "/api/rfcs/", RfcSerializer), ("patch", f"/api/rfcs/{release.rfcs.first().pk}/", RfcSerializer),
               ("post", "/api/tasks/", TaskSerializer), ("patch", f"/api/tasks/{task.pk}/", TaskSerializer),
               ("post", "/api/cis/", CISerializer), ("patch", f"/api/cis/{cis[0].pk}/", CISerializer),
               ("post", f"/api/releases/{release.pk}/scope/", ScopeItemSerializer)]
    rfc = authorised_rfc(actors, "for fuzzing")
    bases = {"/api/releases/": release_body(rfc), "/api/rfcs/": {"title": "t", "description": "d"},
             "/api/tasks/": {"release": release.pk, "title": "t"}, "/api/cis/": {"name": "fuzz-ci"},
             f"/api/releases/{release.pk}/scope/": {"ci": cis[0].pk, "target_version": "9"}}
    for method, path, serializer in targets:
        assert 400 in fuzz(boss, method, path, writable(serializer), base=bases.get(path)), path
    for name in ("schedule", "cancel"):
        assert 400 in fuzz(boss, "post", f"/api/releases/{release.pk}/transitions/{name}/",
                           ["reason", "freeze_override_reason"])
    assert 400 in fuzz(boss, "post", f"/api/tasks/{task.pk}/transitions/block/", ["reason"])
    for other in ("abc", "-1", "999999", ""):
        baseline_diff = boss.get(f"/api/baselines/1/diff/?other={other}")
        assert baseline_diff.status_code in (400, 404)


def valid_record(record_type, release):
    """A body the API accepts for each record type (cf. test_e2e_http)."""
    now = timezone.now()
    case = release.test_cases.first()
    return {
        "plans": {"scope": "s", "deployment_start": iso(now), "deployment_end": iso(now + H),
                  "deployment_approach": "a", "risks": "r", "teams": "t"},
        "votes": {"decision": "approve", "comment": "ok", "signature": {"password": PASSWORD}},
        "build_documents": {"build_install_test_plans": "b", "monitoring_qa": "m", "deployment_procedures": "d",
                            "rollback_procedures": "r", "remediation_steps": "s"},
        "security_checks": {"passed": True, "notes": "n"},
        "prerequisite_checks": {"description": "d", "verified": True},
        "test_cases": {"name": "n", "mandatory": False},
        "test_results": {"test_case": case.pk if case else 0, "outcome": "passed"},
        "rollback_plans": {"content": "c", "verification": "tested"},
        "pre_implementation_checks": {"description": "d", "passed": True},
        "environment_readiness": {"environment": "prod", "ready": True},
        "communications": {"kind": "other", "roles": ["stakeholder"], "subject": "s"},
        "readiness_assessments": {"risks": "r"},
        "training_plans": {"plan": "p", "status": "done"},
        "backups": {"what": "w", "location": "l", "taken_at": iso(now), "verified": True},
        "health_checks": {"passed": True},
        "evaluations": {"summary": "s"},
        "reviews": {"outcome": "success"},
        "rollback_advice": {"advice": "a"},
        "problem_references": {"reference": "PRB-1"},
        "closure_comments": {"rfc": release.rfcs.first().pk, "comment": "c"},
    }.get(record_type)


OPEN_STATES = ["planning", "plan_submitted", "building", "testing", "tests_passed", "plans_updated", "go",
               "deployed", "verified", "in_review", "succeeded", "rolling_back"]


@pytest.mark.parametrize("state", OPEN_STATES)
def test_garbage_in_any_field_of_an_open_step_record_is_a_400(boss, actors, cis, state):
    from releases.api.serializers import RECORD_SERIALIZERS

    if state == "rolling_back":
        release = Walker(new_release(actors, cis=cis), actors).to("rolling_back", rollback_from="deployed")
    else:
        release = reach(actors, cis, state).release
    open_here = [rt for rt, model in RECORD_TYPES.items() if state in model.open_states]
    assert open_here
    for record_type in open_here:
        base = valid_record(record_type, release)
        seen = fuzz(boss, "post", f"/api/releases/{release.pk}/{record_type}/",
                    writable(RECORD_SERIALIZERS[record_type]), base=base)
        assert 400 in seen, record_type
        if base is not None:
            seen = {boss.post(f"/api/releases/{release.pk}/{record_type}/", base, format="json").status_code}
            assert seen <= {201, 409}, (record_type, seen)  # 409: a second vote on the same plan
        existing = RECORD_TYPES[record_type].objects.filter(release=release).first()
        if existing is not None:
            fuzz(boss, "patch", f"/api/releases/{release.pk}/{record_type}/{existing.pk}/",
                 writable(RECORD_SERIALIZERS[record_type]))
