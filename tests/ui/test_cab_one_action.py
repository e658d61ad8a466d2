"""The vote that reaches the CAB quorum approves the plan in the same signed
action, for a voter the declaration lets approve; nothing is kept when
either part is refused."""
import pytest
from django.urls import reverse

from releasemgmt.signing import Password
from releasemgmt.workflow import name_of
from releases import services as s
from releases.models import CabVote, RefusedAttempt, Release, Signature
from releases.scenario import Walker
from tests.helpers import grant, html, reach
from tests.signatures import PASSWORD

pytestmark = pytest.mark.django_db

BOX = 'name="vote-approve_plan"'


@pytest.fixture
def submitted(actors, cis):
    release = reach(actors, cis, "planning").release
    Walker(release, actors).plan()
    return s.release_transition(release_id=release.pk, name=name_of(Release.submit_plan),
                                by=actors.release_manager)


def vote(client, release, **data):
    return client.post(reverse("releases:cab_vote", args=[release.pk]),
                       {"vote-decision": "approve", "vote-comment": "Fine.", "password": PASSWORD, **data})


def test_the_vote_that_reaches_the_quorum_approves_the_plan_in_one_signed_action(login, submitted, actors):
    first, second = actors.cab_members[:2]
    page = html(login(first).get(reverse("releases:cab_review", args=[submitted.pk])))
    assert BOX not in page  # one vote of the two the quorum asks
    assert vote(login(first), submitted).status_code == 302
    page = html(login(second).get(reverse("releases:cab_review", args=[submitted.pk])))
    assert BOX in page and "Approve the plan with this vote" in page
    done = vote(login(second), submitted, **{"vote-approve_plan": "on"})
    assert done.status_code == 302
    release = Release.objects.get(pk=submitted.pk)
    assert release.state == "plan_approved" and release.approved_plan == release.current_plan
    # Two signatures under the one password: the vote and the decision.
    meanings = sorted(Signature.objects.filter(signer=second).values_list("meaning", flat=True))
    assert meanings == ["approve_plan", "vote: approve"]
    followed = login(second).get(done["Location"])
    assert "recorded and the plan is approved" in html(followed)


def test_a_wrong_password_keeps_neither_the_vote_nor_the_approval(login, submitted, actors):
    s.record_add(release_id=submitted.pk, record_type="votes", by=actors.cab_members[0], decision="approve",
                 signature=Password(PASSWORD))
    wrong = vote(login(actors.cab_members[1]), submitted, password="guess", **{"vote-approve_plan": "on"})
    assert wrong.status_code == 400 and "That is not your password" in html(wrong)
    assert CabVote.objects.count() == 1 and Release.objects.get(pk=submitted.pk).state == "plan_submitted"


def test_a_reject_cannot_approve(login, submitted, actors):
    s.record_add(release_id=submitted.pk, record_type="votes", by=actors.cab_members[0], decision="approve",
                 signature=Password(PASSWORD))
    answer = vote(login(actors.cab_members[1]), submitted, **{"vote-decision": "reject", "vote-approve_plan": "on"})
    assert answer.status_code == 400 and "Only an approving vote approves the plan." in html(answer)
    assert CabVote.objects.count() == 1


def test_an_approval_the_declaration_refuses_keeps_no_vote(login, submitted, actors):
    # Short of the quorum (the first vote of two), approve_plan's guard refuses:
    # the vote is rolled back with it, and the refusal is kept.
    answer = vote(login(actors.cab_members[0]), submitted, **{"vote-approve_plan": "on"})
    assert answer.status_code == 409
    assert not CabVote.objects.exists() and Release.objects.get(pk=submitted.pk).state == "plan_submitted"
    assert not Signature.objects.filter(signer=actors.cab_members[0]).exists()


def test_segregation_of_duties_holds_for_the_one_action(login, submitted, actors):
    # The release manager, made a CAB member, still may not vote on (nor approve) their own release.
    s.record_add(release_id=submitted.pk, record_type="votes", by=actors.cab_members[0], decision="approve",
                 signature=Password(PASSWORD))
    rm = actors.release_manager
    grant(rm, "cab_member")
    page = html(login(rm).get(reverse("releases:cab_review", args=[submitted.pk])))
    assert BOX not in page
    refused = vote(login(rm), submitted, **{"vote-approve_plan": "on"})
    assert refused.status_code in (403, 409)
    assert CabVote.objects.count() == 1 and Release.objects.get(pk=submitted.pk).state == "plan_submitted"
    assert RefusedAttempt.objects.filter(by=rm).exists()
