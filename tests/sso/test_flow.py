"""Single sign-on through Django's test client against the local provider:
the login page, local accounts switched off, and the checks that stand
between a sign-in at the provider and a signature (who signed in again,
how recently, for which decision)."""
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from releasemgmt.security import check_signature_password
from releasemgmt.signing import (
    PROVIDER_LOGIN_SESSION_KEY,
    ProviderLogin,
    SignatureInvalid,
    SignatureRequired,
)
from releasemgmt.workflow import name_of
from releases import services
from releases.models import CabVote, Release, Signature
from releases.scenario import Walker
from tests.helpers import html, reach
from tests.signatures import PASSWORD
from tests.sso.provider import PROVIDER, authorize, provider, query, set_claims, sso  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def follow_provider(client, response, sub):
    """The browser's trip: to the provider, authenticated as ``sub``, and back to the callback."""
    callback = authorize(response["Location"], sub)
    return client.get(urlsplit(callback).path, query(callback))


def sign_in(client, sub, **claims):
    return follow_provider(client, client.get(reverse("sso:login")), sub)


@pytest.fixture
def submitted(actors, cis):
    release = reach(actors, cis, "planning").release
    Walker(release, actors).plan()
    return services.release_transition(release_id=release.pk, name=name_of(Release.submit_plan),
                                       by=actors.release_manager)


@pytest.fixture
def carol(sso, client):
    set_claims(sso, "carol-0002", preferred_username="carol", groups=["cab"])
    assert sign_in(client, "carol-0002")["Location"] == reverse("dashboard")
    return get_user_model().objects.get(username="carol")


def vote(client, release):
    return client.post(reverse("releases:cab_vote", args=[release.pk]),
                       {"vote-decision": "approve", "vote-comment": "Fine.", "password": "typed anyway"})


def test_the_login_page_offers_single_sign_on_only_when_configured(client, settings, sso):
    assert f"Sign in with {PROVIDER}" in html(client.get(reverse("login")))
    settings.SSO = None
    page = html(client.get(reverse("login")))
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get(reverse("sso:login")).status_code == 404


def test_with_local_accounts_off_no_password_logs_in_or_signs(client, settings, sso, make_user):
    settings.LOCAL_LOGIN_ENABLED = False
    user = make_user("cab_member", username="local")
    page = html(client.get(reverse("login")))
    assert f"Sign in with {PROVIDER}" in page and 'name="password"' not in page
    refused = client.post(reverse("login"), {"username": "local", "password": PASSWORD})
    assert refused.status_code == 403 and "Local accounts are switched off" in html(refused)
    assert "_auth_user_id" not in client.session
    assert not check_signature_password(user, PASSWORD)


def test_a_signed_vote_without_a_fresh_sign_in_goes_to_the_provider_and_keeps_nothing(client, carol, submitted):
    page = html(client.get(reverse("releases:cab_review", args=[submitted.pk])))
    assert 'type="password"' not in page and f"Signed by signing in again at {PROVIDER}" in page
    answer = vote(client, submitted)
    assert answer.status_code == 302 and answer["Location"] == reverse("sso:sign")
    assert not CabVote.objects.exists() and not Signature.objects.filter(signer=carol).exists()
    kept = dict(client.session["sso_resume"]["data"])
    assert kept == {"vote-decision": ["approve"], "vote-comment": ["Fine."]}  # no password, no CSRF token
    to_provider = client.get(reverse("sso:sign"))
    assert query(to_provider["Location"])["prompt"] == "login"
    assert query(to_provider["Location"])["max_age"] == "300"


def test_signing_in_again_as_someone_else_signs_nothing_and_changes_no_one(client, sso, carol, submitted):
    vote(client, submitted)
    back = follow_provider(client, client.get(reverse("sso:sign")), "alice-0001")
    assert back.status_code == 302 and PROVIDER_LOGIN_SESSION_KEY not in client.session
    assert int(client.session["_auth_user_id"]) == carol.pk
    assert "as someone else" in html(client.get(back["Location"], follow=True))


def test_a_sign_in_older_than_the_limit_signs_nothing(client, carol, submitted, monkeypatch):
    import time

    vote(client, submitted)
    to_provider = client.get(reverse("sso:sign"))
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    follow_provider(client, to_provider, "carol-0002")
    assert PROVIDER_LOGIN_SESSION_KEY not in client.session


def test_a_fresh_sign_in_signs_its_one_decision_once(client, carol, submitted):
    vote(client, submitted)
    back = follow_provider(client, client.get(reverse("sso:sign")), "carol-0002")
    assert back["Location"] == reverse("sso:resume")
    assert "Complete your signed decision" in html(client.get(back["Location"]))
    # The sign-in proves nothing for another decision's address...
    session = client.session
    proof = session[PROVIDER_LOGIN_SESSION_KEY]
    session[PROVIDER_LOGIN_SESSION_KEY] = {**proof, "path": "/releases/0/transition/approve_plan/"}
    session.save()
    assert vote(client, submitted)["Location"] == reverse("sso:sign")
    session = client.session
    session[PROVIDER_LOGIN_SESSION_KEY] = proof
    session.save()
    # ...signs the vote it was asked for, and is then used up.
    assert vote(client, submitted)["Location"] == reverse("releases:cab_review", args=[submitted.pk])
    assert Signature.objects.get(signer=carol).method == "oidc"
    assert PROVIDER_LOGIN_SESSION_KEY not in client.session


def test_the_service_checks_the_sign_in_whoever_built_it(sso, make_user):
    import time

    user, other = make_user("cab_member"), make_user("cab_member")
    ProviderLogin(user_id=user.pk, auth_time=time.time()).verify(user, "vote")
    with pytest.raises(SignatureInvalid):
        ProviderLogin(user_id=other.pk, auth_time=time.time()).verify(user, "vote")
    with pytest.raises(SignatureRequired):
        ProviderLogin(user_id=user.pk, auth_time=time.time() - 301).verify(user, "vote")
