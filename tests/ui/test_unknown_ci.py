"""A CI typed in the scope form that the CMDB does not hold is refused with
the reason, and the way to register it for those who may: a configuration
manager follows the link, registers it, and comes back to the scope."""
import pytest

from cmdb.models import ConfigurationItem
from releases.scenario import new_release
from tests.helpers import token_client

pytestmark = pytest.mark.django_db


def _add(client, release, name):
    return client.post(f"/releases/{release.pk}/scope/", {"scope-ci": name, "scope-target_version": "1.0.0"})


def test_an_unknown_ci_says_how_to_add_it(actors, client):
    release = new_release(actors)
    client.force_login(actors.release_manager)
    response = _add(client, release, "billing-service")
    assert response.status_code == 400
    page = response.content.decode()
    assert "The CMDB holds no configuration item named “billing-service”" in page
    # A release manager may not register CIs: told who does, no link.
    assert 'id="unknown-ci"' in page and "A configuration manager registers it" in page
    assert "/cmdb/cis/new/" not in page
    assert client.get("/cmdb/cis/new/").status_code == 403


def test_a_configuration_manager_registers_it_and_returns_to_the_scope(actors, client, make_user):
    release = new_release(actors)
    confman = actors.configuration_manager
    confman.groups.add(*actors.release_manager.groups.all())  # plans scope too
    client.force_login(confman)
    page = _add(client, release, "billing-service").content.decode()
    link = f"/cmdb/cis/new/?name=billing-service&amp;next=%2Freleases%2F{release.pk}%2F%23scope"
    assert link in page
    form = client.get(link.replace("&amp;", "&"))
    assert form.status_code == 200 and 'value="billing-service"' in form.content.decode()
    done = client.post("/cmdb/cis/new/", {"name": "billing-service", "ci_type": "service", "version": "0.9",
                                          "next": f"/releases/{release.pk}/#scope"})
    assert done.status_code == 302 and done["Location"] == f"/releases/{release.pk}/#scope"
    ci = ConfigurationItem.objects.get(name="billing-service")
    assert ci.version == "0.9" and ci.owner == confman
    assert _add(client, release, "billing-service").status_code == 302
    # Somewhere else is not where it goes back to.
    client.post("/cmdb/cis/new/", {"name": "ledger", "ci_type": "service", "next": "https://evil.example/"})
    assert ConfigurationItem.objects.filter(name="ledger").exists()


def test_the_api_says_the_cmdb_holds_no_such_ci(actors):
    release = new_release(actors)
    response = token_client(actors.release_manager).post(
        f"/api/releases/{release.pk}/scope/", {"ci": 987654, "target_version": "1.0"}, format="json")
    assert response.status_code == 400
    assert "registers it first" in str(response.json())
