"""The transition list says what each transition needs (`requires`: a
reason, a signature, a field of the step's own), read from the declaration;
`allowed: true` means that a POST carrying it succeeds. A POST carrying
anything the transition does not take is a 400 naming it."""
from datetime import timedelta

import pytest
from django.utils import timezone

from changes.models import ChangeRequest
from changes.services import rfc_create
from cmdb.models import ConfigurationItem
from releasemgmt.workflow import name_of, specs
from releases.models import FreezeWindow, Release, Task
from tests.helpers import reach
from tests.signatures import PASSWORD

pytestmark = pytest.mark.django_db

SIGNED = {"signature": {"password": PASSWORD}}
H = timedelta(hours=1)


def rows(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.content
    return {row["name"]: row for row in response.json()}


def test_no_go_requires_a_reason_and_a_signature_and_succeeds_with_them(client_for, actors, cis):
    release = reach(actors, cis, "ready").release
    dm = client_for(actors.delivery_manager)
    listed = rows(dm, f"/api/releases/{release.pk}/transitions/")
    no_go = listed[name_of(Release.no_go)]
    assert (no_go["allowed"], no_go["requires"]) == (True, ["reason", "signature"])
    assert listed[name_of(Release.cancel)]["requires"] == ["reason"]
    body = {field: "The readiness review found open risks." for field in no_go["requires"] if field != "signature"}
    done = dm.post(f"/api/releases/{release.pk}/transitions/no_go/", {**body, **SIGNED}, format="json")
    assert done.status_code == 200 and done.json()["state"] == "plans_updated"


def test_requires_is_read_from_each_declaration(client_for, actors, cis):
    release = reach(actors, cis, "plan_submitted").release
    for row in rows(client_for(actors.cab_members[0]), f"/api/releases/{release.pk}/transitions/").values():
        spec = specs(Release)[row["name"]]
        expected = (["reason"] if spec.reason else []) + (["signature"] if spec.signed is not None else [])
        assert row["requires"] == expected, row
        assert row["reason_required"] == spec.reason and row["signature_required"] == (spec.signed is not None)


def test_an_emergency_release_in_a_freeze_requires_the_override_and_is_allowed_with_it(client_for, actors, cis):
    release = reach(actors, cis, "backed_up", release_type="emergency").release
    FreezeWindow.objects.create(name="Year-end freeze", start=timezone.now() - H, end=timezone.now() + 24 * H)
    deployer = client_for(actors.deployment_team)
    start = rows(deployer, f"/api/releases/{release.pk}/transitions/")[name_of(Release.start_deployment)]
    assert (start["allowed"], start["requires"], start["blockers"]) == (True, ["freeze_override_reason"], [])
    moved = deployer.post(f"/api/releases/{release.pk}/transitions/start_deployment/",
                          {"freeze_override_reason": "Security fix for a CVE under attack."}, format="json")
    assert moved.status_code == 200 and moved.json()["state"] == "deploying"


def test_a_minor_release_in_a_freeze_is_blocked_and_the_override_is_not_offered(client_for, actors, cis):
    release = reach(actors, cis, "backed_up").release
    FreezeWindow.objects.create(name="Year-end freeze", start=timezone.now() - H, end=timezone.now() + 24 * H)
    start = rows(client_for(actors.deployment_team),
                 f"/api/releases/{release.pk}/transitions/")[name_of(Release.start_deployment)]
    assert (start["allowed"], start["requires"]) == (False, [])
    assert [b["code"] for b in start["blockers"]] == ["freeze_window"]


def test_rfc_task_and_ci_transitions_say_what_they_require(client_for, actors, cis):
    release = reach(actors, cis, "scheduled").release
    task = release.tasks.first()
    rm = client_for(actors.release_manager)
    task_rows = rows(rm, f"/api/tasks/{task.pk}/transitions/")
    assert task_rows[name_of(Task.block)]["requires"] == ["reason"]
    assert task_rows[name_of(Task.start)]["requires"] == []
    rfc = rfc_create(by=actors.requester, title="Another change", description="Requested separately.")
    cm = client_for(actors.change_manager)
    cm.post(f"/api/rfcs/{rfc.pk}/transitions/assess/", {}, format="json")
    rfc_rows = rows(cm, f"/api/rfcs/{rfc.pk}/transitions/")
    assert rfc_rows[name_of(ChangeRequest.authorize)]["requires"] == ["signature"]
    assert rfc_rows[name_of(ChangeRequest.reject)]["requires"] == ["reason", "signature"]
    ci = ConfigurationItem.objects.create(name="new-ci", version="1")
    ci_rows = rows(client_for(actors.configuration_manager), f"/api/cis/{ci.pk}/transitions/")
    assert all(row["requires"] == [] for row in ci_rows.values())


@pytest.mark.parametrize("body, field", [
    ({"freeze_override_reason": "Not a deployment."}, "freeze_override_reason"),
    (SIGNED, "signature"),
    ({"reasonn": "Typo."}, "reasonn"),
])
def test_a_transition_refuses_fields_it_does_not_take(client_for, actors, cis, body, field):
    release = reach(actors, cis, "new").release
    response = client_for(actors.release_manager).post(f"/api/releases/{release.pk}/transitions/start_planning/",
                                                       body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in ("unknown_field", "read_only") and field in response.json()
    assert Release.objects.get(pk=release.pk).state == "new"


def test_the_schema_describes_requires_and_each_resource_s_own_transition_body(client_for, actors):
    schema = client_for(actors.release_manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    row = components["ReleaseTransition"]["properties"]
    assert row["requires"]["type"] == "array"
    bodies = {name: components[f"{name}TransitionInputRequest"] for name in
              ("Release", "ChangeRequest", "Task", "ConfigurationItem")}
    assert set(bodies["Release"]["properties"]) == {"reason", "signature", "freeze_override_reason"}
    assert set(bodies["ChangeRequest"]["properties"]) == {"reason", "signature"}
    assert set(bodies["Task"]["properties"]) == {"reason"}
    assert set(bodies["ConfigurationItem"]["properties"]) == {"reason"}
    assert all(body["additionalProperties"] is False for body in bodies.values())
