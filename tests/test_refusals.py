"""Segregation of duties is enforced everywhere, and every refused attempt is
kept as evidence (issue: security and integrity hardening)."""
import pytest
from django.db import DatabaseError, transaction
from rest_framework.test import APIClient

from changes.services import rfc_create, rfc_transition
from releasemgmt.errors import SegregationOfDuties
from releasemgmt.workflow import TransitionBlocked, TransitionForbidden
from releases import services as s
from releases.models import RefusedAttempt, Release
from releases.scenario import Walker, new_release
from tests.signatures import signature

pytestmark = pytest.mark.django_db


def only_refusal():
    rows = list(RefusedAttempt.objects.all())
    assert len(rows) == 1, rows
    return rows[0]


def test_voting_on_a_plan_for_your_own_rfc_is_refused_and_logged(actors, cis, make_user):
    member = make_user("cab_member", "stakeholder", username="cab_requester")
    rfc = rfc_create(by=member, title="Own change", description="Requested by a CAB member.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=actors.change_manager, signature=signature())
    release = Walker(new_release(actors, rfcs=[rfc], cis=cis), actors).to("plan_submitted")

    with pytest.raises(TransitionForbidden):
        s.record_add(release_id=release.pk, record_type="votes", by=member, decision="approve", comment="Fine.")

    row = only_refusal()
    assert (row.by, row.username, row.action, row.code) == (member, "cab_requester", "vote", "segregation_of_duties")
    assert row.subject == release
    assert "may not vote" in row.detail
    assert release.current_plan.votes.count() == 0


def test_release_manager_deciding_go_on_own_release_is_refused_and_logged(actors, cis):
    actors.release_manager.groups.add(*actors.delivery_manager.groups.all())  # holds both roles
    actors.release_manager._release_roles = None
    release = Walker(new_release(actors, cis=cis), actors).to("ready")

    with pytest.raises(SegregationOfDuties) as refused:
        s.release_transition(release_id=release.pk, name="approve_go", by=actors.release_manager,
                             reason="Looks good to me.")
    assert refused.value.status == 403 and refused.value.code == "segregation_of_duties"

    assert "segregation_of_duties" in [b.code for b in refused.value.blockers]
    row = only_refusal()
    assert (row.action, row.code, row.subject) == ("approve_go", "segregation_of_duties", release)
    assert row.detail == "The Go/No-Go decision cannot be taken by the release manager."
    assert Release.objects.get(pk=release.pk).state == "ready"


def test_an_admin_cannot_authorise_their_own_rfc(actors, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    rfc = rfc_create(by=admin, title="Admin's own change", description="Raised by the administrator.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)

    with pytest.raises(SegregationOfDuties):
        rfc_transition(rfc_id=rfc.pk, name="authorize", by=admin)

    row = only_refusal()
    assert (row.by, row.action, row.code) == (admin, "authorize", "segregation_of_duties")
    assert row.subject == rfc
    rfc.refresh_from_db()
    assert rfc.state == "assessed"


def test_a_role_refusal_over_the_api_is_logged(actors, cis):
    release = new_release(actors, cis=cis)
    client = APIClient()
    client.force_authenticate(actors.build_team)

    response = client.post(f"/api/releases/{release.pk}/transitions/start_planning/", {}, format="json")

    assert response.status_code == 403
    row = only_refusal()
    assert (row.by, row.action, row.code, row.subject) == (actors.build_team, "start_planning", "forbidden", release)
    assert Release.objects.get(pk=release.pk).state == "new"


def test_a_wrong_state_or_an_unmet_condition_is_not_a_refusal_of_authority(actors, cis):
    release = new_release(actors, cis=cis)
    with pytest.raises(TransitionBlocked):
        s.release_transition(release_id=release.pk, name="schedule", by=actors.release_manager)
    assert not RefusedAttempt.objects.exists()


def test_refusals_of_record_writers_are_logged(actors, cis):
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    with pytest.raises(TransitionForbidden):
        s.record_add(release_id=release.pk, record_type="plans", by=actors.test_team, scope="Mine.")
    row = only_refusal()
    assert (row.by, row.code, row.subject) == (actors.test_team, "forbidden", release)


@pytest.mark.postgres
def test_refused_attempts_cannot_be_rewritten_on_postgresql(actors, cis):
    release = new_release(actors, cis=cis)
    with pytest.raises(TransitionForbidden):
        s.release_transition(release_id=release.pk, name="start_planning", by=actors.test_team)
    rows = RefusedAttempt.objects.all()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.update(detail="nothing happened")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.delete()
    assert rows.get().code == "forbidden"
