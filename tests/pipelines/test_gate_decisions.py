"""GET /api/gate/: allowed, awaiting or prevented, with the guards' own blockers."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from releasemgmt.workflow import available, name_of
from releases.models import FreezeWindow, Release, TransitionLog
from releases.services import release_transition
from tests.helpers import iso, token_client
from tests.signatures import signature

pytestmark = pytest.mark.django_db


def ask(client, **params):
    response = client.get("/api/gate/", params)
    assert response.status_code == 200, response.content[:400]
    return response.json()


def codes(answer):
    return [b["code"] for b in answer["blockers"]]


def test_a_release_backed_up_inside_its_window_is_allowed(walk, gate_client):
    release = walk("backed_up").release
    answer = ask(gate_client, release=release.pk)
    assert answer == {
        "decision": "allowed", "environment": "production", "gated": True,
        "release": {"id": release.pk, "number": release.number, "state": "backed_up"},
        "blockers": [], "window": {"start": iso(release.planned_start), "end": iso(release.planned_end)},
    }
    # By its number, and by the CI and the version its scope brings, alike.
    assert ask(gate_client, release=release.number) == answer
    assert ask(gate_client, release=release.number.lower()) == answer
    item = release.scope_items.select_related("ci").first()
    assert ask(gate_client, ci=item.ci.name, version=item.target_version) == answer


def test_a_release_before_its_go_is_awaited_with_the_go_to_come(walk, gate_client, actors):
    walker = walk("ready")
    walker.add("readiness_assessments", actors.delivery_manager, risks="Low.", recommendation="Go.")
    release = walker.release
    answer = ask(gate_client, release=release.pk)
    assert answer["decision"] == "awaiting"
    assert codes(answer) == [f"awaiting_{name_of(Release.approve_go)}"]
    assert "“Go” (step 10)" in answer["blockers"][0]["message"]


def test_awaiting_go_names_what_the_go_still_misses_in_the_guards_words(walk, gate_client, actors):
    release = walk("ready").release  # its readiness not assessed yet
    answer = ask(gate_client, release=release.pk)
    assert answer["decision"] == "awaiting"
    go = next(row for row in available(release, actors.delivery_manager) if row["name"] == name_of(Release.approve_go))
    # The release page's (and the transition list's) own blockers for the Go.
    assert answer["blockers"][1:] == go["blockers"] == [
        {"code": "readiness_not_assessed",
         "message": "The deployment readiness (risks and issues) has not been assessed."}]


def test_after_go_the_backup_is_awaited(walk, gate_client):
    release = walk("go").release
    answer = ask(gate_client, release=release.pk)
    assert answer["decision"] == "awaiting"
    assert codes(answer) == [f"awaiting_{name_of(Release.record_backup)}", "backup_missing"]


def test_a_no_go_prevents_the_deployment(walk, gate_client, actors):
    release = walk("ready").release
    release_transition(release_id=release.pk, name=name_of(Release.no_go), by=actors.delivery_manager,
                       reason="Load tests show a memory leak.", signature=signature())
    answer = ask(gate_client, release=release.pk)
    assert answer["decision"] == "prevented"
    assert answer["blockers"][0]["code"] == "no_go"
    assert "Load tests show a memory leak." in answer["blockers"][0]["message"]


def test_a_cancelled_release_is_prevented(walk, gate_client, actors):
    release = walk("planning").release
    release_transition(release_id=release.pk, name=name_of(Release.cancel), by=actors.release_manager,
                       reason="Superseded.")
    answer = ask(gate_client, release=release.pk)
    assert answer["decision"] == "prevented"
    assert answer["blockers"] == [{"code": "invalid_state",
                                   "message": "'start_deployment' is not possible while the release is 'cancelled'."}]
    # And it is no CI's open release any more.
    item = release.scope_items.select_related("ci").first()
    assert codes(ask(gate_client, ci=item.ci.name, version=item.target_version)) == ["no_open_release"]


def test_a_closed_release_is_prevented(walk, gate_client):
    release = walk("closed").release
    answer = ask(gate_client, release=release.pk)
    assert (answer["decision"], codes(answer)) == ("prevented", ["invalid_state"])


def test_a_release_already_deploying_is_prevented(walk, gate_client):
    release = walk("deploying").release
    assert codes(ask(gate_client, release=release.pk)) == ["invalid_state"]


def test_a_freeze_prevents_the_deployment_and_is_named(walk, gate_client):
    release = walk("backed_up").release
    now = timezone.now()
    FreezeWindow.objects.create(name="Year-end freeze", start=now - timedelta(hours=1), end=now + timedelta(days=30))
    answer = ask(gate_client, release=release.pk)
    assert answer["decision"] == "prevented"
    assert codes(answer) == ["freeze_window"]
    assert "Freeze window 'Year-end freeze' (global)" in answer["blockers"][0]["message"]


def test_outside_its_window_a_release_is_prevented(walk, gate_client):
    release = walk("backed_up", now=timezone.now() + timedelta(days=30)).release
    answer = ask(gate_client, release=release.pk)
    assert answer["decision"] == "prevented"
    assert answer["blockers"] == [{"code": "outside_window",
                                   "message": "It is not within the release's planned window."}]


def test_no_open_release_for_the_ci_and_version_is_prevented(walk, gate_client, cis):
    walk("backed_up")
    answer = ask(gate_client, ci=cis[0].name, version="99.0")
    assert answer == {"decision": "prevented", "environment": "production", "gated": True, "release": None,
                      "blockers": [{"code": "no_open_release", "message": "No open release deploys this "
                                                                          "version of this configuration item."}],
                      "window": None}


def test_a_user_whose_role_may_not_deploy_is_told_so(walk, make_user):
    release = walk("backed_up").release
    answer = ask(token_client(make_user("stakeholder")), release=release.pk)
    assert answer["decision"] == "prevented"
    assert codes(answer) == ["role_forbidden"]


def test_another_environment_is_not_gated_and_needs_no_release(gate_client):
    answer = ask(gate_client, environment="staging")
    assert answer == {"decision": "allowed", "environment": "staging", "gated": False, "release": None,
                      "blockers": [], "window": None}


def test_an_empty_parameter_is_as_if_absent(walk, gate_client):
    release = walk("go").release
    answer = ask(gate_client, release=release.pk, ci="", version="", environment="")
    assert (answer["environment"], answer["decision"]) == ("production", "awaiting")


def test_the_gated_environments_are_configurable(walk, gate_client, settings):
    settings.GATED_ENVIRONMENTS = ("production", "production-eu")
    release = walk("go").release
    assert ask(gate_client, release=release.pk, environment="Production-EU")["decision"] == "awaiting"
    assert ask(gate_client, release=release.pk, environment="staging")["gated"] is False


def test_asking_changes_nothing(walk, gate_client):
    release = walk("backed_up").release
    logs = TransitionLog.objects.count()
    ask(gate_client, release=release.pk)
    assert TransitionLog.objects.count() == logs
    assert Release.objects.get(pk=release.pk).state == "backed_up"


@pytest.mark.parametrize("params, field", [
    ({}, "release"),
    ({"release": "1", "ci": "orders-api", "version": "2.4"}, "release"),
    ({"release": "banana"}, "release"),
    ({"release": "REL-1e9"}, "release"),
    ({"release": "99999999999999999999999"}, "release"),
    ({"ci": "orders-api"}, "version"),
    ({"version": "2.4"}, "ci"),
    ({"release": "1", "environment": "x" * 101}, "environment"),
])
def test_bad_questions_get_a_400_with_the_reason(gate_client, params, field):
    response = gate_client.get("/api/gate/", params)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_release_nobody_may_see_is_a_404(gate_client):
    response = gate_client.get("/api/gate/", {"release": "REL-99999"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def _queries(client, **params):
    with CaptureQueriesContext(connection) as ctx:
        ask(client, **params)
    return [q["sql"] for q in ctx.captured_queries]


def test_a_poll_costs_a_fixed_number_of_queries_whatever_else_is_planned_on_the_same_cis(walk, gate_client):
    """Pipelines poll the gate: its cost is pinned, and neither another
    release on the same CIs nor the gate's own announcement adds to it (an
    answer is not a move of the release, so the adapters' waiting checks are
    not asked again on every poll)."""
    release = walk("backed_up").release
    alone = _queries(gate_client, release=release.pk)
    # token, roles, release, plans, scope, dependencies, freezes, other
    # releases on those CIs, webhook subscriptions
    assert len(alone) == 9, "\n".join(alone)
    assert not any("pipelines_adaptercheck" in sql for sql in alone)

    walk("plan_approved")
    colliding = _queries(gate_client, release=release.pk)
    # ... and, once one collides: the other releases' plans, the colliding
    # releases and the names of the CIs they share.
    assert len(colliding) == len(alone) + 3
    walk("plan_approved")
    walk("plan_approved")
    assert len(_queries(gate_client, release=release.pk)) == len(colliding)
    assert ask(gate_client, release=release.pk)["decision"] == "prevented"


def test_no_open_release_names_the_standard_change_that_covers_the_ci(gate_client, actors, cis):
    from releases import standard_changes, template_services

    template = template_services.template_create(by=actors.release_manager, name="Monthly patch",
                                                 release_type="minor", description="OS patches.")
    standing = standard_changes.standard_change_approve(by=actors.change_manager, template=template, cis=[cis[0]],
                                                        signature=signature(), note="Routine.")
    answer = ask(gate_client, ci=cis[0].name, version="99.0")
    assert answer["decision"] == "prevented" and codes(answer) == ["no_open_release"]
    assert answer["blockers"][0]["message"] == (
        f"No open release deploys this version of this configuration item. {standing.number} approves the "
        f"template “Monthly patch” as a standard change for {cis[0].name}: a release manager may raise a "
        f"release from it, whose plan needs no CAB vote.")
    # Another CI, or once the approval is withdrawn: nothing to point to.
    assert ask(gate_client, ci=cis[1].name, version="99.0")["blockers"][0]["message"].endswith("configuration item.")
    standard_changes.standard_change_withdraw(by=actors.change_manager, standard_change_id=standing.pk,
                                              signature=signature(), reason="Retired.")
    assert ask(gate_client, ci=cis[0].name, version="99.0")["blockers"][0]["message"].endswith("configuration item.")
