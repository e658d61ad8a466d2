"""Warnings that matter: a release that would deploy an older version than
the CMDB holds, or a CI another open release also changes, says so at
planning (submitting the plan) and at scheduling, on the release page and in
the API's transition list. They never block the step: the contract's guards
do not name them (release-flow.md)."""
import pytest

from cmdb.models import ConfigurationItem
from releasemgmt.workflow import name_of
from releases.models import Release
from releases.conflicts import older
from releases.scenario import Walker, new_release
from tests.helpers import token_client

pytestmark = pytest.mark.django_db

SUBMIT, SCHEDULE = name_of(Release.submit_plan), name_of(Release.schedule)


@pytest.fixture
def payments(db):
    return ConfigurationItem.objects.create(name="payments-api", ci_type="application", version="1.8.6")


def _warnings(client, release, name):
    rows = {r["name"]: r for r in client.get(f"/api/releases/{release.pk}/transitions/").json()}
    return rows[name]["warnings"]


def _scoped(actors, ci, version, title):
    release = new_release(actors, title=title)
    from releases import services as s

    s.scope_set(release_id=release.pk, ci=ci, target_version=version, by=actors.release_manager)
    return release


def test_a_release_behind_the_cmdb_is_warned_at_planning_and_scheduling(actors, payments, client):
    late = _scoped(actors, payments, "1.8.7", "Payments logging")
    early = Walker(_scoped(actors, payments, "4.2.0", "Payments 4"), actors)
    early.to("closed")
    payments.refresh_from_db()
    assert payments.version == "4.2.0"

    walker = Walker(late, actors)
    walker.to("planning")
    walker.plan()
    api = token_client(actors.release_manager)
    warned = _warnings(api, late, SUBMIT)
    assert [w["code"] for w in warned] == ["older_than_cmdb"]
    assert "payments-api: the CMDB holds 4.2.0; this release would deploy 1.8.7" in warned[0]["message"]
    # Not a blocker: the plan goes to the CAB, and on to scheduling.
    rows = {r["name"]: r for r in api.get(f"/api/releases/{late.pk}/transitions/").json()}
    assert rows[SUBMIT]["allowed"] is True
    walker.to("plan_approved")
    assert [w["code"] for w in _warnings(api, late, SCHEDULE)] == ["older_than_cmdb"]

    client.force_login(actors.release_manager)
    page = client.get(f"/releases/{late.pk}/").content.decode()
    assert 'data-code="older_than_cmdb"' in page and "would deploy 1.8.7, an older version" in page


def test_a_ci_another_open_release_changes_is_named(actors, payments):
    first = _scoped(actors, payments, "1.9.0", "Payments 1.9")
    second = _scoped(actors, payments, "1.8.7", "Payments hotfix")
    walker = Walker(second, actors)
    walker.to("planning")
    walker.plan()
    warned = _warnings(token_client(actors.release_manager), second, SUBMIT)
    assert [w["code"] for w in warned] == ["version_also_changed"]
    assert warned[0]["message"] == f"{first.number} Payments 1.9 also changes payments-api (to 1.9.0)."
    # A release that no longer changes its CIs is not in the way.
    from releases import services as s

    s.release_transition(release_id=first.pk, name=name_of(Release.cancel), by=actors.release_manager,
                         reason="Merged into the hotfix.")
    assert _warnings(token_client(actors.release_manager), second, SUBMIT) == []


@pytest.mark.parametrize("version, than, expected", [
    ("1.8.7", "4.2.0", True), ("1.10", "1.9", False), ("1.9", "1.10", True), ("2.0", "2.0", False),
    ("HAProxy 2.8", "HAProxy 2.9", True), ("Debian 12", "Ubuntu 22.04", False), ("", "1.0", False),
])
def test_versions_compare_as_people_read_them(version, than, expected):
    assert older(version, than) is expected
