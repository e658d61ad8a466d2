"""One code per meaning, with one HTTP status each, as the error table of
docs/api.md lists them: a state that forbids the step (409 `invalid_state`),
an unmet condition (409 `blocked`), a duplicate (409 `duplicate`), an
immutable record (405 `immutable`), a record written only by its step's
transition (405 `read_only`), a missing reason (400 `reason_required`), a
segregation-of-duties refusal (403 `segregation_of_duties`, whatever is
decided). Refusals of authority are still kept as refused attempts."""
import re
from pathlib import Path

import pytest

from changes.services import rfc_create, rfc_transition
from releasemgmt import errors, signing
from releases.models import CabVote, RefusedAttempt, Release
from tests.helpers import grant, reach
from tests.signatures import PASSWORD, signature

pytestmark = pytest.mark.django_db

SIGNED = {"signature": {"password": PASSWORD}}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def state_of(release):
    return Release.objects.get(pk=release.pk).state


def test_a_second_vote_by_the_same_member_is_a_duplicate_not_a_closed_step(client_for, actors, cis):
    release = reach(actors, cis, "plan_submitted").release
    member = client_for(actors.cab_members[0])
    url = f"/api/releases/{release.pk}/votes/"
    assert member.post(url, {"decision": "approve", **SIGNED}, format="json").status_code == 201
    again = member.post(url, {"decision": "reject", **SIGNED}, format="json")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "You have already voted on this version of the plan.", "code": "duplicate",
        "blockers": [{"code": "already_voted", "message": "You have already voted on this version of the plan."}]}
    # The step is open: another member still votes.
    assert state_of(release) == "plan_submitted"
    assert client_for(actors.cab_members[1]).post(url, {"decision": "approve", **SIGNED},
                                                  format="json").status_code == 201
    assert CabVote.objects.filter(created_by=actors.cab_members[0]).count() == 1


def test_editing_an_immutable_record_is_405_immutable(client_for, actors, cis):
    release = reach(actors, cis, "plan_submitted").release
    member = client_for(actors.cab_members[0])
    vote = member.post(f"/api/releases/{release.pk}/votes/", {"decision": "approve", **SIGNED},
                       format="json").json()
    response = member.patch(f"/api/releases/{release.pk}/votes/{vote['id']}/", {"comment": "changed"},
                            format="json")
    assert response.status_code == 405
    assert response.json() == {"detail": "A CAB vote is kept as written; add a new one instead.", "code": "immutable",
                               "blockers": [{"code": "immutable", "message": "This record cannot be edited."}]}
    assert "PATCH" not in response["Allow"]
    assert CabVote.objects.get(pk=vote["id"]).comment == ""


@pytest.mark.parametrize("record_type", ["go_decisions", "deployments"])
def test_a_record_written_by_its_transition_is_405_read_only(client_for, actors, cis, record_type):
    release = reach(actors, cis, "deployed").release
    record = getattr(release, record_type).get()
    client = client_for(actors.release_manager)
    for method, url in (("post", f"/api/releases/{release.pk}/{record_type}/"),
                        ("patch", f"/api/releases/{release.pk}/{record_type}/{record.pk}/")):
        response = getattr(client, method)(url, {"notes": "by hand"}, format="json")
        assert response.status_code == 405, (method, response.content)
        assert response.json()["code"] == "read_only"
        assert response.json()["blockers"][0]["code"] == "read_only"
        assert method.upper() not in response["Allow"]
    assert getattr(release, record_type).count() == 1


def test_a_missing_reason_is_400_reason_required_naming_the_field(client_for, actors, cis):
    release = reach(actors, cis, "ready").release
    dm = client_for(actors.delivery_manager)
    response = dm.post(f"/api/releases/{release.pk}/transitions/no_go/", SIGNED, format="json")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["reason"]) == ("reason_required", ["A reason must be given for this step."])
    assert body["blockers"] == [{"code": "reason_required", "message": "A reason must be given for this step."}]
    assert state_of(release) == "ready"
    done = dm.post(f"/api/releases/{release.pk}/transitions/no_go/", {"reason": "Risks too high.", **SIGNED},
                   format="json")
    assert done.status_code == 200 and done.json()["state"] == "plans_updated"


def test_an_unmet_condition_comes_before_the_missing_reason(client_for, actors, cis):
    # Cancelling an RFC needs a reason, and the RFC must not be in an open
    # release: the 409 names the condition alone; the reason is asked for
    # (400) only when it is all that is missing.
    release = reach(actors, cis, "planning").release
    rfc = release.rfcs.get()
    response = client_for(actors.change_manager).post(f"/api/rfcs/{rfc.pk}/transitions/cancel/", {},
                                                      format="json")
    assert response.status_code == 409
    assert (response.json()["code"], [b["code"] for b in response.json()["blockers"]]) == (
        "blocked", ["in_active_release"])


def _conflicted_cab_member(make_user, actors):
    """A CAB member who requested the release's RFC."""
    both = make_user("cab_member", "change_manager")
    rfc = rfc_create(by=both, title="Mine", description="My own change.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=actors.change_manager, signature=signature())
    return both, rfc


def test_every_segregation_of_duties_refusal_is_403_and_kept(client_for, actors, cis, make_user):
    member, rfc = _conflicted_cab_member(make_user, actors)
    release = reach(actors, cis, "plan_submitted", rfcs=[rfc]).release
    client = client_for(member)
    refusals = []
    vote = client.post(f"/api/releases/{release.pk}/votes/", {"decision": "approve", **SIGNED}, format="json")
    approve = client.post(f"/api/releases/{release.pk}/transitions/approve_plan/", SIGNED, format="json")
    rm_as_dm = grant(actors.release_manager, "delivery_manager")
    ready = reach(actors, cis, "ready").release
    go = client_for(rm_as_dm).post(f"/api/releases/{ready.pk}/transitions/approve_go/", SIGNED, format="json")
    for response in (vote, approve, go):
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "segregation_of_duties"
        assert {b["code"] for b in response.json()["blockers"]} == {"segregation_of_duties"}
        refusals.append(response.json()["blockers"][0]["message"])
    kept = list(RefusedAttempt.objects.order_by("pk").values_list("action", "code", "detail", "entry_point"))
    assert kept == [("vote", "segregation_of_duties", refusals[0], "api"),
                    ("approve_plan", "segregation_of_duties", refusals[1], "api"),
                    ("approve_go", "segregation_of_duties", refusals[2], "api")]
    assert (state_of(release), state_of(ready)) == ("plan_submitted", "ready")
    assert not release.current_plan.votes.exists()


def test_the_state_forbidding_a_step_is_one_code_for_transitions_and_records(client_for, actors, cis):
    release = reach(actors, cis, "planning").release
    rm = client_for(actors.release_manager)
    transition = rm.post(f"/api/releases/{release.pk}/transitions/start_build/", {}, format="json")
    record = client_for(actors.build_team).post(f"/api/releases/{release.pk}/security_checks/", {"passed": True},
                                                format="json")
    baseline = rm.post(f"/api/releases/{release.pk}/baseline/")
    for response in (transition, record, baseline):
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "invalid_state"
    assert [b["code"] for b in record.json()["blockers"]] == ["step_closed"]
    assert [b["code"] for b in transition.json()["blockers"]] == ["invalid_state"]


# --- the table -----------------------------------------------------------------------------------------


def _error_classes():
    found, todo = set(), [errors.TransitionError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            found.add(sub)
    return found


def test_every_error_code_is_in_the_one_table_of_docs_api_md_with_its_status():
    import releases.services  # noqa: F401  (their error classes register as subclasses)

    text = DOCS.read_text()
    section = text[text.index("\n## Errors"):]
    section = section[:section.index("\n## ", 1)]
    tables = re.findall(r"(?:^\|.*\|\n)+", section, flags=re.M)
    assert len(tables) == 1, "the errors section holds one table"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in tables[0].splitlines()[2:]]
    documented = {(int(row[0]), code) for row in rows for code in re.findall(r"`([a-z_]+)`", row[2])}
    codes = {(cls.status, cls.code) for cls in _error_classes() | {errors.TransitionError}
             if cls.code not in ("transition_error", "signature_error")}
    codes |= {(405, "read_only"), (409, "concurrent_transition")}  # codes given where the error is raised
    assert codes <= documented, codes - documented
    # And nowhere else is a code defined: no other table names an error code.
    for code in ("step_closed", "already_voted", "problem_exists"):
        outside = text.replace(section, "")
        assert not re.search(rf"^\|[^\n]*`{code}`[^\n]*\|$", outside, flags=re.M), code
    assert signing.SignatureRequired.code in section
