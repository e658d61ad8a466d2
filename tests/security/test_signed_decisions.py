"""Signed decisions on every path (issue 13, finding 8).

A CAB vote, approving or rejecting the plan, authorising or rejecting an
RFC, Go and No-Go, and authorising a rollback are signed: the decider gives
their password again, the service checks it whatever the door (API, UI,
admin), and a structured ``Signature`` record keeps who signed what, when,
how, through which door, with the SHA-256 fingerprint of what was signed.

Over the API each decision is tried three ways: without a signature (400
``signature_required``, nothing changes), with a wrong password (403
``signature_invalid``, nothing changes, a failed login is counted) and with
the right one (a Signature whose document holds what was decided on and
whose fingerprint is the SHA-256 of that document).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from changes.models import ChangeRequest
from changes.services import rfc_create, rfc_transition
from audit import export as ax
from audit.forms import EvidenceRangeForm
from releases.models import CabVote, Release, TransitionLog
from tests.helpers import reach
from tests.signatures import PASSWORD

from .clients import APIClient, Client, token_client

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    return token_client(user, REMOTE_ADDR="10.0.0.7")


def signatures():
    from releases.models import Signature

    return Signature.objects


def signed_since(count):
    """The signatures added since there were ``count`` (the walk that set
    the decision up signed its own)."""
    return signatures().order_by("id")[count:]


def failures(user) -> int:
    attempt = AccessAttempt.objects.filter(username=user.username).first()
    return attempt.failures_since_start if attempt else 0


# --- the decisions, each brought to the moment it is taken ------------------------------------------


@dataclass
class Case:
    """One signed decision ready to be taken: where to POST, what, by whom;
    what must stay unchanged while it is refused; and what the signed
    document must say about the content decided on."""

    url: str
    body: dict
    decider: object
    state: Callable[[], object]  # what a refused attempt leaves as it was
    signs: Callable[[], object]  # the row the signature belongs to, once taken
    meaning: str
    facts: Callable[[dict], None]  # asserts the signed document names what was decided on


def _plan_facts(plan):
    def check(doc):
        assert doc["plan"]["version"] == plan.version and doc["plan"]["plan_id"] == plan.pk
        assert doc["plan"]["risks"] == plan.risks and doc["plan"]["scope"] == plan.scope
        assert doc["plan"]["deployment_approach"] == plan.deployment_approach
        assert doc["release"] == plan.release.number and doc["rfcs"] == sorted(
            r.number for r in plan.release.rfcs.all())
    return check


def _release_state(release):
    return lambda: (Release.objects.get(pk=release.pk).state, TransitionLog.objects.count(), CabVote.objects.count())


def _last_log(name):
    return lambda: TransitionLog.objects.filter(name=name).latest("at", "id")


def vote(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    return Case(f"/api/releases/{w.release.pk}/votes/", {"decision": "approve", "comment": "Risks acceptable."},
                actors.cab_members[0], _release_state(w.release), lambda: CabVote.objects.get(), "vote: approve",
                _plan_facts(w.release.current_plan))


def approve_plan(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    for member in actors.cab_members[:2]:
        w.add("votes", member, decision="approve")
    return Case(f"/api/releases/{w.release.pk}/transitions/approve_plan/", {}, actors.cab_members[2],
                _release_state(w.release), _last_log("approve_plan"), "approve_plan",
                _plan_facts(w.release.current_plan))


def reject_plan(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    return Case(f"/api/releases/{w.release.pk}/transitions/reject_plan/", {"reason": "Rollback untested."},
                actors.cab_members[0], _release_state(w.release), _last_log("reject_plan"), "reject_plan",
                _plan_facts(w.release.current_plan))


def _rfc_case(actors, name, rfc, body):
    def facts(doc):
        assert (doc["rfc"], doc["title"], doc["description"], doc["requester"]) == (
            rfc.number, rfc.title, rfc.description, actors.requester.username)
        assert (doc["risk"], doc["impact"], doc["change_type"]) == (rfc.risk, rfc.impact, rfc.change_type)

    return Case(f"/api/rfcs/{rfc.pk}/transitions/{name}/", body, actors.change_manager,
                lambda: (ChangeRequest.objects.get(pk=rfc.pk).state, TransitionLog.objects.count()),
                _last_log(name), name, facts)


def authorize(actors, cis):
    rfc = rfc_create(by=actors.requester, title="Faster search", description="Index the order numbers.",
                     risk="high", impact="low")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    return _rfc_case(actors, "authorize", rfc, {})


def reject_rfc(actors, cis):
    rfc = rfc_create(by=actors.requester, title="Drop the audit log", description="Save disk space.")
    return _rfc_case(actors, "reject", rfc, {"reason": "The audit log is a control."})


def _go_case(actors, cis, name, body):
    w = reach(actors, cis, "ready")
    assessment = w.add("readiness_assessments", actors.delivery_manager, risks="Low: rehearsed twice.",
                       issues="None open.", recommendation="Go.")

    def facts(doc):
        assert doc["release"] == w.release.number and doc["state"] == "ready"
        assert doc["readiness_assessment"]["id"] == assessment.pk
        assert doc["readiness_assessment"]["risks"] == "Low: rehearsed twice."
        assert doc["approved_plan"]["version"] == w.release.approved_plan.version

    return Case(f"/api/releases/{w.release.pk}/transitions/{name}/", body, actors.delivery_manager,
                _release_state(w.release), _last_log(name), name, facts)


def approve_go(actors, cis):
    return _go_case(actors, cis, "approve_go", {})


def no_go(actors, cis):
    return _go_case(actors, cis, "no_go", {"reason": "The business asked for a freeze."})


def rollback(actors, cis):
    w = reach(actors, cis, "deployed")
    w.add("rollback_advice", actors.delivery_manager, advice="Error rate above 5%; roll back.")

    def facts(doc):
        assert doc["release"] == w.release.number and doc["state"] == "deployed"
        assert [a["advice"] for a in doc["rollback_advice"]] == ["Error rate above 5%; roll back."]
        assert doc["rollback_plan"]["content"] == w.release.rollback_plan.content
        assert doc["pre_release_baseline"]["id"] == w.release.pre_release_baseline.pk

    return Case(f"/api/releases/{w.release.pk}/transitions/rollback/", {}, actors.release_manager,
                _release_state(w.release), _last_log("rollback"), "rollback", facts)


DECISIONS = {"vote": vote, "approve_plan": approve_plan, "reject_plan": reject_plan, "authorize": authorize,
             "reject_rfc": reject_rfc, "approve_go": approve_go, "no_go": no_go, "rollback": rollback}


# --- over the API -------------------------------------------------------------------------


@pytest.mark.parametrize("decision", DECISIONS)
def test_a_signed_decision_without_a_signature_is_400_and_changes_nothing(actors, cis, decision):
    case = DECISIONS[decision](actors, cis)
    before, signed = case.state(), signatures().count()
    response = api(case.decider).post(case.url, case.body, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "signature_required" and body["signature"], body
    assert case.state() == before
    assert signatures().count() == signed


@pytest.mark.parametrize("decision", DECISIONS)
def test_a_wrong_password_is_403_changes_nothing_and_counts_as_a_failed_login(actors, cis, decision):
    case = DECISIONS[decision](actors, cis)
    before, signed = case.state(), signatures().count()
    response = api(case.decider).post(case.url, {**case.body, "signature": {"password": "guess"}}, format="json")
    assert response.status_code == 403, response.json()
    assert response.json()["code"] == "signature_invalid"
    assert case.state() == before
    assert signatures().count() == signed
    assert failures(case.decider) == 1


@pytest.mark.parametrize("decision", DECISIONS)
def test_the_right_password_signs_and_the_signature_names_what_was_signed(actors, cis, decision):
    case = DECISIONS[decision](actors, cis)
    count = signatures().count()
    response = api(case.decider).post(case.url, {**case.body, "signature": {"password": PASSWORD}}, format="json")
    assert response.status_code in (200, 201), response.json()
    assert "password" not in json.dumps(response.json())
    signed = case.signs()
    (signature,) = signed_since(count)
    assert signature.decision == signed
    assert (signature.signer, signature.signer_username, signature.method, signature.entry_point,
            signature.meaning) == (case.decider, case.decider.username, "password", "api", case.meaning)
    assert signature.fingerprint == hashlib.sha256(signature.document.encode()).hexdigest()
    case.facts(json.loads(signature.document))
    assert PASSWORD not in signature.document
    assert failures(case.decider) == 0


def test_the_transition_list_and_the_schema_say_which_decisions_are_signed(actors, cis, make_user):
    w = reach(actors, cis, "plan_submitted")
    rows = api(actors.cab_members[0]).get(f"/api/releases/{w.release.pk}/transitions/").json()
    assert {r["name"]: r["signature_required"] for r in rows} == {
        "approve_plan": True, "reject_plan": True, "cancel": False}
    # The schema needs a login in production: any logged-in user reads it.
    schema = api(actors.cab_members[0]).get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert "signature" in components["ReleaseTransitionInputRequest"]["properties"]
    assert components["SignatureInputRequest"]["required"] == ["password"]
    assert "signature" in components["CabvoteRequest"]["properties"]
    assert "signature_required" in components["ReleaseTransition"]["properties"]
    vote_create = schema["paths"]["/api/releases/{release_pk}/votes/"]["post"]["responses"]
    assert "429" in vote_create


def test_a_forged_signature_line_in_a_vote_is_only_a_comment(actors, cis, client):
    w = reach(actors, cis, "plan_submitted")
    count = signatures().count()
    cab, cm = actors.cab_members[0], actors.change_manager
    forged = f"Looks fine.\n\nSigned with password by {cm.get_full_name() or cm.username} ({cm.username}) " \
             "on 2026-11-27 10:00 UTC."
    response = api(cab).post(f"/api/releases/{w.release.pk}/votes/",
                             {"decision": "approve", "comment": forged, "signature": {"password": PASSWORD}},
                             format="json")
    assert response.status_code == 201, response.json()
    vote = CabVote.objects.get()
    assert vote.comment == forged  # kept as the voter wrote it, nothing appended
    (signature,) = signed_since(count)  # the vote's own, and no other
    assert (signature.decision, signature.signer, signature.signer_username) == (vote, cab, cab.username)
    # The CAB page shows the signature from its record, the forged line only as comment text.
    client.force_login(actors.cab_members[1])
    page = client.get(reverse("releases:cab_review", args=[w.release.pk])).content.decode()
    assert f'data-fingerprint="{signature.fingerprint}"' in page
    assert f"Signed with password by {cab.username} ·" in page
    assert f"Signed with password by {cm.username} ·" not in page


def test_the_fingerprint_follows_the_plan_content(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    first = w.release.current_plan
    w.add("votes", actors.cab_members[0], decision="approve")
    w.plan()  # a second version: the same fields but a new version number
    w.add("plans", actors.release_manager, **{**{f: getattr(first, f) for f in (
        "scope", "deployment_start", "deployment_end", "deployment_approach", "teams")}, "risks": "Higher now."})
    w.add("votes", actors.cab_members[1], decision="approve")
    w.add("votes", actors.cab_members[2], decision="approve")
    w.go("approve_plan", actors.cab_members[2])
    on_v1, on_v3, also_on_v3 = [signatures().get(object_id=v.pk, content_type__model="cabvote")
                                for v in CabVote.objects.order_by("pk")]
    approval = signatures().get(meaning="approve_plan")
    assert json.loads(on_v1.document)["plan"]["version"] == 1
    assert json.loads(on_v3.document)["plan"]["version"] == 3
    assert on_v1.fingerprint != on_v3.fingerprint
    # The same content signed twice has the same fingerprint: every vote on
    # version 3 and the approval of version 3 are about the same plan.
    assert on_v3.fingerprint == also_on_v3.fingerprint == approval.fingerprint
    # One field of the content changes the fingerprint.
    doc = json.loads(approval.document)
    from releasemgmt.signing import fingerprint

    assert fingerprint(doc) == approval.fingerprint
    assert fingerprint({**doc, "plan": {**doc["plan"], "risks": "Higher now!"}}) != approval.fingerprint


def test_the_lock_out_applies_to_signing_and_the_right_password_then_signs_nothing(actors, cis):
    case = approve_plan(actors, cis)
    count = signatures().count()
    client = api(case.decider)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(case.url, {"signature": {"password": "guess"}}, format="json").status_code == 403
    locked = client.post(case.url, {"signature": {"password": "guess"}}, format="json")
    assert locked.status_code == 429 and locked.json()["code"] == "locked_out"
    again = client.post(case.url, {"signature": {"password": PASSWORD}}, format="json")
    assert again.status_code == 429 and again.json()["code"] == "locked_out"
    assert Release.objects.get(pk=case.url.split("/")[3]).state == "plan_submitted"
    assert signatures().count() == count


def test_a_wrong_password_sent_with_if_match_is_counted_too(actors, cis):
    # The If-Match check holds a transaction around the service: the count
    # must outlive its rollback.
    case = approve_plan(actors, cis)
    client = api(case.decider)
    etag = client.get(case.url.rsplit("transitions", 1)[0])["ETag"]
    response = client.post(case.url, {"signature": {"password": "guess"}}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 403
    assert failures(case.decider) == 1


# --- through the browser UI ---------------------------------------------------------------


def test_the_ui_form_hands_the_password_to_the_service_which_signs(actors, cis):
    case = approve_plan(actors, cis)
    count = signatures().count()
    release_pk = int(case.url.split("/")[3])
    client = Client(REMOTE_ADDR="10.0.0.8")
    client.force_login(case.decider)
    url = reverse("releases:transition", args=[release_pk, "approve_plan"])
    page = client.get(reverse("releases:cab_review", args=[release_pk])).content.decode()
    assert 'name="password"' in page and 'id="id_approve_plan-password"' in page
    wrong = client.post(url, {"from": "cab", "password": "guess"})
    assert wrong.status_code == 400 and "That is not your password" in wrong.content.decode()
    assert failures(case.decider) == 1 and signatures().count() == count
    assert client.post(url, {"from": "cab", "password": PASSWORD}).status_code == 302
    (signature,) = signed_since(count)
    assert (signature.meaning, signature.entry_point, signature.signer) == ("approve_plan", "ui", case.decider)
    assert signature.decision == TransitionLog.objects.get(name="approve_plan")
    history = Client()
    history.force_login(actors.release_manager)
    assert f"Signed with password by {case.decider.username}" in history.get(
        reverse("releases:detail", args=[release_pk])).content.decode()


def test_the_ui_vote_is_signed_by_its_record_not_its_comment(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    count = signatures().count()
    cab = actors.cab_members[0]
    client = Client(REMOTE_ADDR="10.0.0.8")
    client.force_login(cab)
    url = reverse("releases:cab_vote", args=[w.release.pk])
    assert client.post(url, {"vote-decision": "approve", "password": "guess"}).status_code == 400
    assert failures(cab) == 1 and not CabVote.objects.exists()
    assert client.post(url, {"vote-decision": "approve", "vote-comment": "Fine.", "password": PASSWORD}) \
        .status_code == 302
    vote = CabVote.objects.get()
    assert vote.comment == "Fine."
    (signature,) = signed_since(count)
    assert (signature.decision, signature.meaning, signature.entry_point) == (vote, "vote: approve", "ui")


def test_an_rfc_is_authorised_on_its_page_with_the_password(actors, cis):
    case = authorize(actors, cis)
    rfc_pk = int(case.url.split("/")[3])
    count = signatures().count()
    client = Client(REMOTE_ADDR="10.0.0.8")
    client.force_login(case.decider)
    page = client.get(reverse("changes:detail", args=[rfc_pk])).content.decode()
    assert 'id="id_authorize-password"' in page
    url = reverse("changes:transition", args=[rfc_pk, "authorize"])
    assert client.post(url, {}).status_code == 400
    assert client.post(url, {"password": "guess"}).status_code == 400
    assert ChangeRequest.objects.get(pk=rfc_pk).state == "assessed" and signatures().count() == count
    assert client.post(url, {"password": PASSWORD}).status_code == 302
    (signature,) = signed_since(count)
    assert (signature.meaning, signature.entry_point, signature.signer) == ("authorize", "ui", case.decider)
    page = client.get(reverse("changes:detail", args=[rfc_pk])).content.decode()
    assert f'data-fingerprint="{signature.fingerprint}"' in page


def test_a_wrong_signature_password_is_not_kept_in_clear_by_the_lock_out(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    client = Client(REMOTE_ADDR="10.0.0.8")
    client.force_login(actors.cab_members[0])
    client.post(reverse("releases:cab_vote", args=[w.release.pk]),
                {"vote-decision": "approve", "password": "my-near-miss"})
    attempt = AccessAttempt.objects.get(username=actors.cab_members[0].username)
    assert "my-near-miss" not in attempt.post_data


# --- through the admin --------------------------------------------------------------------


def _staff(user):
    user.is_staff = True
    user.save()
    client = Client(REMOTE_ADDR="10.0.0.9")
    client.force_login(user)
    return client


def test_the_admin_transition_button_asks_for_the_password_and_the_service_signs(actors, cis):
    case = approve_go(actors, cis)
    count = signatures().count()
    release_pk = int(case.url.split("/")[3])
    client = _staff(case.decider)
    page = client.get(reverse("admin:releases_release_change", args=[release_pk])).content.decode()
    assert 'data-transition="approve_go"' in page and 'type="password" name="password"' in page
    url = reverse("admin:releases_release_transition", args=[release_pk, "approve_go"])
    client.post(url, {})
    assert Release.objects.get(pk=release_pk).state == "ready"
    client.post(url, {"password": "guess"})
    assert Release.objects.get(pk=release_pk).state == "ready" and failures(case.decider) == 1
    assert signatures().count() == count
    assert client.post(url, {"password": PASSWORD}).status_code == 302
    assert Release.objects.get(pk=release_pk).state == "go"
    (signature,) = signed_since(count)
    assert (signature.meaning, signature.entry_point, signature.signer) == ("approve_go", "admin", case.decider)
    log_page = client.get(reverse("admin:releases_transitionlog_change", args=[signature.object_id]))
    assert signature.fingerprint in log_page.content.decode()


def test_the_admin_vote_form_asks_for_the_password_and_the_service_signs(actors, cis):
    w = reach(actors, cis, "plan_submitted")
    count = signatures().count()
    cab = actors.cab_members[0]
    client = _staff(cab)
    url = reverse("admin:releases_cabvote_add")
    form = client.get(url).content.decode()
    assert 'name="password"' in form
    data = {"release": w.release.pk, "decision": "approve", "comment": "ok"}
    missing = client.post(url, data)
    assert missing.status_code == 200 and not CabVote.objects.exists()
    wrong = client.post(url, {**data, "password": "guess"})
    assert wrong.status_code == 200 and "That is not your password" in wrong.content.decode()
    assert not CabVote.objects.exists() and failures(cab) == 1
    assert client.post(url, {**data, "password": PASSWORD}).status_code == 302
    vote = CabVote.objects.get()
    (signature,) = signed_since(count)
    assert (signature.decision, signature.entry_point, signature.signer) == (vote, "admin", cab)
    assert signature.fingerprint in client.get(
        reverse("admin:releases_cabvote_change", args=[vote.pk])).content.decode()


# --- the audit export -------------------------------------------------------------------


def test_the_audit_export_lists_the_signature_beside_each_signed_decision(actors, cis):
    w = reach(actors, cis, "go")
    today = timezone.now().date()
    form = EvidenceRangeForm({"from": str(today - timedelta(days=1)), "to": str(today)})
    assert form.is_valid()
    rows = list(csv.DictReader(io.StringIO("".join(ax.evidence_csv(*form.bounds())).lstrip("\ufeff"))))
    signed_actions = {"approve_plan", "reject_plan", "authorize", "reject", "approve_go", "no_go", "rollback"}
    for row in rows:
        signed = row["evidence_type"] in ("cab_vote", "cab_decision", "rfc_authorisation", "go_no_go") or (
            row["evidence_type"] == "transition" and row["action"] in signed_actions)
        if not signed:
            assert (row["signed_by"], row["signature_fingerprint"]) == ("", ""), row
            continue
        assert signatures().filter(fingerprint=row["signature_fingerprint"], signer_username=row["signed_by"],
                                   method=row["signature_method"]).exists(), row
        assert row["signed_by"] == row["actor"] and row["signed_at"]
    assert {r["evidence_type"] for r in rows if r["signature_fingerprint"]} == {
        "cab_vote", "cab_decision", "rfc_authorisation", "go_no_go", "transition"}
    go = next(r for r in rows if r["evidence_type"] == "go_no_go")
    assert go["signature_fingerprint"] == signatures().get(meaning="approve_go").fingerprint
    assert w.release.state == "go"
