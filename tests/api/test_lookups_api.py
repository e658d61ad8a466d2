"""Teams, vendors and freeze windows over the API (issue 18, point 6): the ids
a task's assignee takes, without a vendor's secrets; freeze windows read as
in the UI and written by exactly the roles the admin lets, with the model's
validation and the refusal kept; and the emergency freeze override driven by
an integration from end to end."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.utils import timezone

from releasemgmt.workflow import name_of
from releases.models import FreezeWindow, RefusedAttempt, Release, Team
from tests.helpers import iso, reach

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
INTERNAL = ["release_manager", "change_manager", "cab_member", "delivery_manager", "build_team", "test_team",
            "deployment_team", "configuration_manager", "stakeholder"]


@pytest.fixture
def teams(make_user):
    build = Team.objects.create(name="Build crew", email="build@example.test")
    member = make_user("build_team")
    build.members.add(member)
    Team.objects.create(name="Night shift")
    return build, member


@pytest.fixture
def vendors(make_vendor, make_user):
    acme = make_vendor("Acme", secret="acme-shared-secret", email="ops@acme.test",
                       integration_url="https://acme.test/hooks")
    globex = make_vendor("Globex", secret="globex-shared-secret")
    user = make_user("vendor")
    acme.users.add(user)
    return acme, globex, user


def names(response):
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


# --- teams and vendors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", INTERNAL)
def test_the_process_roles_read_teams_and_vendors(role, teams, vendors, make_user, client_for):
    client = client_for(make_user(role))
    assert names(client.get("/api/teams/")) == ["Build crew", "Night shift"]
    build, member = teams
    assert client.get(f"/api/teams/{build.pk}/").json() == {
        "id": build.pk, "name": "Build crew", "email": "build@example.test", "members": [member.pk]}
    assert names(client.get("/api/vendors/")) == ["Acme", "Globex"]


def test_a_vendor_is_shown_without_its_secrets(vendors, make_user, client_for):
    acme, _, _ = vendors
    response = client_for(make_user("release_manager")).get(f"/api/vendors/{acme.pk}/")
    assert response.json() == {"id": acme.pk, "name": "Acme", "email": "ops@acme.test", "has_integration": True}
    text = response.content.decode() + client_for(make_user("stakeholder")).get("/api/vendors/").content.decode()
    for secret in (acme.secret_fingerprint, acme.secret_sealed, "acme-shared-secret", "acme.test/hooks"):
        assert secret and secret not in text


def test_a_vendor_user_sees_only_its_own_vendor_and_no_team(teams, vendors, client_for):
    acme, globex, user = vendors
    client = client_for(user)
    assert names(client.get("/api/vendors/")) == ["Acme"]
    assert client.get(f"/api/vendors/{acme.pk}/").status_code == 200
    assert client.get(f"/api/vendors/{globex.pk}/").status_code == 404
    assert names(client.get("/api/teams/")) == []
    assert client.get(f"/api/teams/{teams[0].pk}/").status_code == 404


def test_no_role_reads_no_lookup(teams, vendors, make_user, client_for):
    client = client_for(make_user())
    for path in ("/api/teams/", f"/api/teams/{teams[0].pk}/", "/api/vendors/", f"/api/vendors/{vendors[0].pk}/",
                 "/api/freeze-windows/"):
        assert client.get(path).status_code == 403, path
        assert client_for(None).get(path).status_code == 401, path


def test_teams_and_vendors_are_read_only(teams, vendors, make_user, client_for):
    client = client_for(make_user("release_manager"))
    assert client.post("/api/teams/", {"name": "New"}, format="json").status_code == 405
    assert client.patch(f"/api/vendors/{vendors[0].pk}/", {"name": "X"}, format="json").status_code == 405
    assert client.delete(f"/api/teams/{teams[0].pk}/").status_code == 405


# --- freeze windows ----------------------------------------------------------------------------------------------------


def window(**fields):
    now = timezone.now().replace(microsecond=0)
    return {"name": "Quarter close", "start": iso(now + 24 * H), "end": iso(now + 48 * H),
            "reason": "Finance closes the books.", **fields}


@pytest.mark.parametrize("role", ["release_manager", "change_manager"])
def test_release_and_change_managers_declare_change_and_lift_a_freeze(role, make_user, client_for, cis):
    user = make_user(role)
    client = client_for(user)
    created = client.post("/api/freeze-windows/", window(cis=[cis[0].pk]), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created_by"] == user.pk and body["cis"] == [cis[0].pk] and body["name"] == "Quarter close"
    freeze = FreezeWindow.objects.get(pk=body["id"])
    assert {h.history_user for h in freeze.history.all()} == {user}
    etag = client.get(f"/api/freeze-windows/{freeze.pk}/")["ETag"]
    moved = client.patch(f"/api/freeze-windows/{freeze.pk}/", {"end": iso(freeze.end + H), "cis": []},
                         format="json", HTTP_IF_MATCH=etag)
    assert moved.status_code == 200, moved.content
    assert moved.json()["cis"] == [] and moved["ETag"] != etag
    stale = client.patch(f"/api/freeze-windows/{freeze.pk}/", {"name": "Late"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert client.delete(f"/api/freeze-windows/{freeze.pk}/").status_code == 204
    assert not FreezeWindow.objects.filter(pk=freeze.pk).exists()
    assert [h.history_type for h in FreezeWindow.history.filter(id=freeze.pk).order_by("history_date")] == \
        ["+", "~", "~", "~", "-"]  # created, its CI set, moved, its CIs cleared, lifted


@pytest.mark.parametrize("role", ["cab_member", "delivery_manager", "build_team", "test_team", "deployment_team",
                                  "configuration_manager", "stakeholder"])
def test_other_roles_read_freezes_but_may_not_write_them_and_the_refusal_is_kept(role, make_user, client_for):
    freeze = FreezeWindow.objects.create(name="Black Friday", start=timezone.now(), end=timezone.now() + 24 * H)
    user = make_user(role)
    client = client_for(user)
    assert names(client.get("/api/freeze-windows/")) == ["Black Friday"]
    assert client.get(f"/api/freeze-windows/{freeze.pk}/").json()["name"] == "Black Friday"
    attempts = [client.post("/api/freeze-windows/", window(), format="json"),
                client.patch(f"/api/freeze-windows/{freeze.pk}/", {"name": "Cyber Monday"}, format="json"),
                client.delete(f"/api/freeze-windows/{freeze.pk}/")]
    assert [r.status_code for r in attempts] == [403, 403, 403]
    assert attempts[0].json()["code"] == "forbidden"
    assert FreezeWindow.objects.get().name == "Black Friday"
    kept = list(RefusedAttempt.objects.filter(by=user).order_by("id").values_list("entry_point", "object_id"))
    assert kept == [("api", None), ("api", freeze.pk), ("api", freeze.pk)]


def test_a_vendor_neither_reads_nor_writes_freezes(vendors, client_for):
    freeze = FreezeWindow.objects.create(name="Black Friday", start=timezone.now(), end=timezone.now() + 24 * H)
    client = client_for(vendors[2])
    assert names(client.get("/api/freeze-windows/")) == []
    assert client.get(f"/api/freeze-windows/{freeze.pk}/").status_code == 404
    assert client.post("/api/freeze-windows/", window(), format="json").status_code == 403


def test_no_role_may_not_declare_a_freeze(make_user, client_for):
    user = make_user()
    assert client_for(user).post("/api/freeze-windows/", window(), format="json").status_code == 403
    assert not FreezeWindow.objects.exists()
    assert RefusedAttempt.objects.filter(by=user, entry_point="api").count() == 1


def test_a_freeze_that_does_not_end_after_it_starts_is_a_400_naming_the_field(make_user, client_for):
    client = client_for(make_user("change_manager"))
    start = timezone.now().replace(microsecond=0) + 24 * H
    for end in (start, start - H):
        response = client.post("/api/freeze-windows/", window(start=iso(start), end=iso(end)), format="json")
        assert response.status_code == 400, response.content
        assert "end" in response.json() and response.json()["code"] == "invalid"
    assert client.post("/api/freeze-windows/", window(start=None), format="json").json()["start"]
    assert client.post("/api/freeze-windows/", window(name=""), format="json").status_code == 400
    assert not FreezeWindow.objects.exists()
    freeze = client.post("/api/freeze-windows/", window(), format="json").json()
    response = client.patch(f"/api/freeze-windows/{freeze['id']}/", {"end": freeze["start"]}, format="json")
    assert response.status_code == 400 and "end" in response.json()
    assert iso(FreezeWindow.objects.get().end) == freeze["end"]


def test_freezes_filter_by_period_and_by_configuration_item(make_user, client_for, cis):
    now = timezone.now()
    FreezeWindow.objects.create(name="Past", start=now - 48 * H, end=now - 24 * H)
    FreezeWindow.objects.create(name="Global now", start=now - H, end=now + H)
    on_db = FreezeWindow.objects.create(name="Database now", start=now - H, end=now + 2 * H)
    on_db.cis.add(cis[1])
    client = client_for(make_user("deployment_team"))
    period = {"ends_after": iso(now), "starts_before": iso(now + timedelta(minutes=30))}
    assert sorted(names(client.get("/api/freeze-windows/", period))) == ["Database now", "Global now"]
    assert names(client.get("/api/freeze-windows/", {"ci": cis[0].pk})) == ["Past", "Global now"]
    assert sorted(names(client.get("/api/freeze-windows/", {"ci": cis[1].pk}))) == \
        ["Database now", "Global now", "Past"]
    assert client.get("/api/freeze-windows/", {"ends_after": "not a date"}).status_code == 400


def test_the_admin_asks_the_same_check(rf, staff):
    model_admin = admin.site._registry[FreezeWindow]
    for role, allowed in (("change_manager", True), ("release_manager", True), ("cab_member", False),
                          ("stakeholder", False)):
        request = rf.get("/")
        request.user = staff(role)
        assert model_admin.has_add_permission(request) is allowed, role
        assert model_admin.has_change_permission(request) is allowed, role
        assert model_admin.has_delete_permission(request) is allowed, role
    assert not RefusedAttempt.objects.exists()  # asking what a page offers records nothing


# --- the emergency freeze override, as an integration drives it -------------------------------------------------------


def test_an_integration_drives_the_emergency_freeze_override(actors, cis, client_for):
    release = reach(actors, cis, "backed_up", release_type="emergency").release
    manager = client_for(actors.change_manager)
    now = timezone.now().replace(microsecond=0)
    declared = manager.post("/api/freeze-windows/", window(name="Incident freeze", start=iso(now - H),
                                                           end=iso(now + 24 * H)), format="json")
    assert declared.status_code == 201

    deployer = client_for(actors.deployment_team)
    start = name_of(Release.start_deployment)
    row = next(t for t in deployer.get(f"/api/releases/{release.pk}/transitions/").json() if t["name"] == start)
    # The list says what the step needs to go ahead in the freeze: allowed with the override reason.
    assert (row["allowed"], row["requires"], row["blockers"]) == (True, ["freeze_override_reason"], [])
    # The freezes in force now, as the integration finds them.
    active = deployer.get("/api/freeze-windows/", {"ends_after": iso(now), "starts_before": iso(now + H)})
    assert names(active) == ["Incident freeze"]

    refused = deployer.post(f"/api/releases/{release.pk}/transitions/{start}/", {}, format="json")
    assert refused.status_code == 409
    freeze_blocker = next(b for b in refused.json()["blockers"] if b["code"] == "freeze_window")
    assert "Incident freeze" in freeze_blocker["message"] and "freeze override reason" in freeze_blocker["message"]
    moved = deployer.post(f"/api/releases/{release.pk}/transitions/{start}/",
                          {"freeze_override_reason": "Payment outage: hotfix"}, format="json")
    assert moved.status_code == 200, moved.content
    assert moved.json()["state"] == "deploying"
    deployment = deployer.get(f"/api/releases/{release.pk}/deployments/").json()[0]
    assert deployment["freeze_override_reason"] == "Payment outage: hotfix"
    entries = deployer.get(f"/api/releases/{release.pk}/history/", {"page_size": 200}).json()["results"]
    logged = next(e for e in entries if e["kind"] == "transition" and e["transition"]["name"] == start)
    assert logged["transition"]["payload"] == {"freeze_override_reason": "Payment outage: hotfix"}
    assert logged["actor"] == actors.deployment_team.pk


def test_a_release_that_is_not_an_emergency_is_not_told_of_an_override(actors, cis):
    from releasemgmt.workflow import evaluate, specs

    release = reach(actors, cis, "backed_up").release
    FreezeWindow.objects.create(name="Incident freeze", start=timezone.now() - H, end=timezone.now() + H)
    blockers = evaluate(release, specs(Release)[name_of(Release.start_deployment)], actors.deployment_team)
    message = next(b.message for b in blockers if b.code == "freeze_window")
    assert "Incident freeze" in message and "override" not in message
