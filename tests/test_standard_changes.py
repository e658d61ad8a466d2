"""Standard (pre-approved) changes: a change manager's signed standing
approval of a release template for named CIs approves the plans of releases
raised from it, instead of CAB votes; every other step stays enforced, the
approval can be withdrawn, and the audit export shows it."""
from __future__ import annotations

import pytest

from audit.export import COLUMNS, evidence_csv
from cmdb.models import ConfigurationItem
from releasemgmt.workflow import name_of
from releases import standard_changes as sc
from releases import template_services
from releases.models import CabVote, Release, Signature, StandardChange
from releases.scenario import Walker, authorised_rfc
from tests.helpers import logs_of
from tests.signatures import signature

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(actors):
    return template_services.template_create(by=actors.release_manager, name="Monthly patch", release_type="minor",
                                             description="OS and library patches, no schema change.")


@pytest.fixture
def standing(actors, template, cis):
    return sc.standard_change_approve(by=actors.change_manager, template=template, cis=cis, signature=signature(),
                                      note="Forty patches in a row without incident.")


def raise_release(actors, template, cis, *, title="Patch"):
    """A release raised from ``template`` over ``cis``, walked through the real services."""
    from datetime import timedelta

    from django.utils import timezone

    from releases import services as s

    now = timezone.now()
    release = template_services.release_create_from_template(
        by=actors.release_manager, template=template, title=title, release_type=template.release_type,
        rfcs=[authorised_rfc(actors, f"Change for {title}")], planned_start=now - timedelta(days=1),
        planned_end=now + timedelta(days=14))
    for ci in cis:
        s.scope_set(release_id=release.pk, ci=ci, target_version="9.9", by=actors.release_manager)
    return Walker(release, actors)


def submit(walker):
    walker.to("planning")
    walker.planning()


def test_a_standard_change_deploys_without_a_cab_vote_and_the_export_shows_its_approval(client, actors, template,
                                                                                          cis, standing):
    walker = raise_release(actors, template, cis)
    submit(walker)  # submitting the plan is enough: it is approved at once
    assert walker.release.state == "plan_approved"
    walker.to("deployed")
    release = Release.objects.get(pk=walker.release.pk)
    assert release.state == "deployed" and release.standard_change == standing
    assert not CabVote.objects.filter(release=release).exists()
    approval = logs_of(release).get(name=name_of(Release.approve_plan))
    assert approval.by == actors.change_manager and approval.payload["standard_change"] == standing.pk
    assert standing.number in approval.reason
    applied = Signature.objects.get(object_id=approval.pk, content_type__model="transitionlog")
    assert applied.method == "standing_approval" and applied.signer == actors.change_manager
    assert standing.number in applied.document

    rows = [dict(zip(COLUMNS, line)) for line in _csv(release.created_at)]
    mine = [r for r in rows if r["release_number"] == release.number]
    [approved] = [r for r in mine if r["evidence_type"] == "standard_change"]
    assert approved["action"] == sc.APPROVE and approved["signed_by"] == actors.change_manager.username
    assert approved["signature_method"] == "password" and approved["independent"] == "yes"
    assert "Monthly patch" in approved["detail"] and all(ci.name in approved["detail"] for ci in cis)
    [decision] = [r for r in mine if r["evidence_type"] == "cab_decision"]
    assert decision["signature_method"] == "standing_approval" and decision["actor"] == actors.change_manager.username
    assert not [r for r in mine if r["evidence_type"] == "cab_vote"]

    client.force_login(actors.release_manager)
    page = client.get(f"/releases/{release.pk}/").content.decode()
    assert 'id="standard-change"' in page and standing.number in page
    assert standing.approval_signature.fingerprint[:16] in page  # the change manager's own signature


def _csv(since):
    import csv
    import io
    from datetime import timedelta

    from django.utils import timezone

    text = "".join(evidence_csv(since - timedelta(days=1), timezone.now() + timedelta(days=1)))
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:]


def test_the_scope_of_an_approved_standard_change_stays_within_its_cis(actors, template, cis, standing):
    from releases import services as s
    from releasemgmt.errors import TransitionBlocked

    walker = raise_release(actors, template, cis[:1])
    submit(walker)
    assert walker.release.standard_change == standing
    extra = ConfigurationItem.objects.create(name="billing-api", ci_type="application", version="1.0")
    with pytest.raises(TransitionBlocked, match="not for billing-api"):
        s.scope_set(release_id=walker.release.pk, ci=extra, target_version="2.0", by=actors.release_manager)
    s.scope_set(release_id=walker.release.pk, ci=cis[1], target_version="9.9", by=actors.release_manager)


def test_another_template_or_another_ci_still_needs_the_cab(actors, template, cis, standing):
    other = template_services.template_create(by=actors.release_manager, name="Other", release_type="minor")
    from_other = raise_release(actors, other, cis, title="Other template")
    extra = ConfigurationItem.objects.create(name="billing-api", ci_type="application", version="1.0")
    wider = raise_release(actors, template, [*cis, extra], title="Wider scope")
    for walker in (from_other, wider):
        submit(walker)
        assert walker.release.state == "plan_submitted" and walker.release.standard_change is None
        walker.to("plan_approved")  # the CAB votes, as for any release
        assert CabVote.objects.filter(release=walker.release).count() == 2


def test_withdrawn_the_approval_keeps_its_history_and_later_plans_go_to_the_cab(actors, template, cis, standing):
    before = raise_release(actors, template, cis, title="Before")
    submit(before)
    sc.standard_change_withdraw(standard_change_id=standing.pk, by=actors.change_manager, signature=signature(),
                                reason="A patch broke the payment service.")
    after = raise_release(actors, template, cis, title="After")
    submit(after)
    assert after.release.state == "plan_submitted" and after.release.standard_change is None
    before_release = Release.objects.get(pk=before.release.pk)
    assert before_release.state == "plan_approved" and before_release.standard_change == standing
    standing.refresh_from_db()
    assert not standing.active and standing.withdrawn_by == actors.change_manager
    assert sorted(meaning for _, meaning in sc.signatures_of([standing])) == [sc.APPROVE, sc.WITHDRAW]
    states = [h.withdrawn_at is None for h in standing.history.order_by("history_date", "history_id")]
    assert states[0] and not states[-1]  # the approval as it stood is kept beside the withdrawal


def test_an_edited_template_is_no_longer_approved(actors, template, cis, standing):
    template_services.template_update(template_id=template.pk, by=actors.release_manager,
                                      description="Now with a schema change.")
    walker = raise_release(actors, template, cis)
    submit(walker)
    assert walker.release.state == "plan_submitted"
    assert StandardChange.objects.covering(walker.release) is None


# --- the API: list, create, withdraw; refusals change nothing ------------------------------------------------------


def test_the_api_approves_lists_and_withdraws_signed(actors, template, cis):
    from tests.helpers import token_client
    from tests.signatures import PASSWORD

    client = token_client(actors.change_manager)
    created = client.post("/api/standard-changes/", {"template": template.pk, "cis": [c.pk for c in cis],
                                                     "note": "Routine.", "signature": {"password": PASSWORD}},
                          format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["active"] and body["approval_signature"]["signed_by"] == actors.change_manager.username
    assert body["approval_signature"]["method"] == "password" and body["withdrawal_signature"] is None
    listed = token_client(actors.release_manager).get("/api/standard-changes/?active=true").json()
    assert [r["number"] for r in listed["results"]] == [body["number"]]
    url = f"/api/standard-changes/{body['id']}/withdraw/"
    withdrawn = client.post(url, {"reason": "Broke payments.", "signature": {"password": PASSWORD}}, format="json")
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawal_signature"]["signed_by"] == "cm"
    again = client.post(url, {"reason": "Twice.", "signature": {"password": PASSWORD}}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"


def test_unsigned_wrong_password_and_wrong_role_are_refused_and_change_nothing(actors, template, cis, standing):
    from releases.models import RefusedAttempt
    from tests.helpers import token_client
    from tests.signatures import PASSWORD

    body = {"template": template.pk, "cis": [c.pk for c in cis]}
    by_rm = token_client(actors.release_manager).post("/api/standard-changes/",
                                                      {**body, "signature": {"password": PASSWORD}}, format="json")
    assert by_rm.status_code == 403 and by_rm.json()["code"] == "forbidden"
    cm = token_client(actors.change_manager)
    unsigned = cm.post("/api/standard-changes/", body, format="json")
    assert unsigned.status_code == 400 and unsigned.json()["code"] == "signature_required"
    wrong = cm.post("/api/standard-changes/", {**body, "signature": {"password": "not it"}}, format="json")
    assert wrong.status_code == 403 and wrong.json()["code"] == "signature_invalid"
    withdraw = token_client(actors.cab_members[0]).post(f"/api/standard-changes/{standing.pk}/withdraw/", {
        "reason": "Mine to say.", "signature": {"password": PASSWORD}}, format="json")
    assert withdraw.status_code == 403
    assert StandardChange.objects.count() == 1 and StandardChange.objects.get().active
    assert sorted(RefusedAttempt.objects.values_list("username", "code")) == [
        ("cab1", "forbidden"), ("cm", "signature_invalid"), ("rm", "forbidden")]


# --- the page and the admin: the same signed decisions ------------------------------------------------------------


def test_the_page_and_the_admin_approve_and_withdraw_signed(client, actors, template, cis):
    from django.urls import reverse

    from releases.models import RefusedAttempt
    from tests.signatures import PASSWORD

    client.force_login(actors.change_manager)
    page = reverse("releases:standard_changes")
    names = ", ".join(ci.name for ci in cis)
    wrong = client.post(page, {"template": template.pk, "cis": names, "password": "not it"})
    assert wrong.status_code == 400 and not StandardChange.objects.exists()
    assert client.post(page, {"template": template.pk, "cis": names, "password": PASSWORD}).status_code == 302
    standing = StandardChange.objects.get()
    assert set(standing.cis.all()) == set(cis) and "SC-" in client.get(page).content.decode()
    withdraw = reverse("releases:standard_change_withdraw", args=[standing.pk])
    assert client.post(withdraw, {f"w{standing.pk}-reason": "Retired.", "password": PASSWORD}).status_code == 302
    standing.refresh_from_db()
    assert not standing.active

    actors.change_manager.is_staff = True
    actors.change_manager.save()
    add = reverse("admin:releases_standardchange_add")
    form = {"template": template.pk, "cis": ",".join(str(ci.pk) for ci in cis), "note": "", "reason": ""}
    assert client.post(add, {**form, "password": "not it"}).status_code == 200  # shown again, with the error
    assert StandardChange.objects.count() == 1
    assert client.post(add, {**form, "password": PASSWORD}).status_code == 302
    again = StandardChange.objects.latest("pk")
    change = reverse("admin:releases_standardchange_change", args=[again.pk])
    assert client.post(change, {"reason": "Retired too.", "password": PASSWORD}).status_code == 302
    again.refresh_from_db()
    assert not again.active and again.withdrawal_reason == "Retired too."

    client.force_login(actors.release_manager)
    assert client.post(page, {"template": template.pk, "cis": names, "password": PASSWORD}).status_code == 403
    assert StandardChange.objects.count() == 2
    assert RefusedAttempt.objects.filter(username="rm").exists()
