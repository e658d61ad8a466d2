"""Single sign-on in a real browser, against a real OpenID Connect provider
(oidc-provider-mock, served on a thread by the test): a person signs in
there and lands with the roles its groups map to, loses a role when the
group is taken away, is refused once deactivated here or when the provider
refuses, and signs a CAB vote by signing in at the provider again."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from releasemgmt.workflow import name_of
from releases import services
from releases.models import CabVote, Release, Signature
from releases.scenario import Walker
from tests.helpers import reach
from tests.sso.provider import PROVIDER, provider, set_claims, sso  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def sign_in(page: Page, base: str, sub: str):
    page.goto(base + "/accounts/login/")
    page.get_by_role("link", name=f"Sign in with {PROVIDER}").click()
    at_provider(page, sub)


def at_provider(page: Page, sub: str):
    """On the provider's page: authenticate as ``sub``."""
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()


def roles(username):
    return set(get_user_model().objects.get(username=username).groups.values_list("name", flat=True))


def test_sign_in_gives_the_mapped_roles_and_a_removed_group_takes_its_role(page: Page, live_server, sso):
    sign_in(page, live_server.url, "alice-0001")
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()
    alice = get_user_model().objects.get(username="alice")
    assert roles("alice") == {"release_manager", "cab_member"} and not alice.has_usable_password()
    # A role the map does not manage, given here, is left alone by single sign-on.
    alice.groups.add(Group.objects.get(name="stakeholder"))

    page.get_by_role("button", name="Log out").click()
    set_claims(sso, "alice-0001", preferred_username="alice", groups=["cab"])
    sign_in(page, live_server.url, "alice-0001")
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()
    assert roles("alice") == {"cab_member", "stakeholder"}
    assert get_user_model().objects.filter(username__startswith="alice").count() == 1


def test_a_deactivated_user_and_a_refusal_at_the_provider_get_no_session(page: Page, live_server, sso):
    sign_in(page, live_server.url, "alice-0001")
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    get_user_model().objects.filter(username="alice").update(is_active=False)

    sign_in(page, live_server.url, "alice-0001")
    expect(page.locator(".msg-error")).to_contain_text("Your account here is deactivated")
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    # Disabled at the provider: it refuses the sign-in and says so.
    page.get_by_role("link", name=f"Sign in with {PROVIDER}").click()
    page.get_by_role("button", name="Deny").click()
    expect(page.locator(".msg-error")).to_contain_text(f"The sign-in at {PROVIDER} did not complete")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_an_sso_user_signs_a_cab_vote_by_signing_in_again_at_the_provider(page: Page, live_server, sso,
                                                                           actors, cis):
    set_claims(sso, "carol-0002", preferred_username="carol", groups=["cab"])
    sign_in(page, live_server.url, "carol-0002")
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()
    carol = get_user_model().objects.get(username="carol")

    release = reach(actors, cis, "planning").release
    Walker(release, actors).plan()
    services.release_transition(release_id=release.pk, name=name_of(Release.submit_plan),
                                by=actors.release_manager)
    page.goto(live_server.url + f"/cab/{release.pk}/")
    vote = page.locator("form.vote-form")
    expect(vote.locator("input[type=password]")).to_have_count(0)
    expect(vote).to_contain_text(f"Signed by signing in again at {PROVIDER}")
    vote.locator("input[name='vote-decision'][value='approve']").check()
    vote.locator("[name='vote-comment']").fill("Rollback plan is sound.")
    vote.get_by_role("button", name="Cast vote").click()

    at_provider(page, "carol-0002")  # asked again (prompt=login), as carol
    expect(page.get_by_role("heading", name="Complete your signed decision")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Rollback plan is sound.")
    assert not CabVote.objects.exists()
    page.get_by_role("button", name="Sign and send").click()

    expect(page.locator(".msg-success")).to_contain_text("Your vote")
    signature = Signature.objects.get(signer=carol)
    assert signature.method == "oidc" and signature.meaning == "vote: approve"
    assert CabVote.objects.get().created_by == carol
