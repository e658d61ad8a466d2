"""What blocks a step is said to whoever asks, but a blocker that names a
row the asker may not see (another vendor's task, by its title) says so
without naming it: in the transition list, in a 409 and on the release page."""
from __future__ import annotations

import pytest

from releases import services as s
from releases.models import Vendor
from releases.scenario import Walker, new_release

from .clients import APIClient, Client

pytestmark = pytest.mark.django_db

SECRET_TITLE = "ZGLOBEXSECRETQ"


@pytest.fixture
def world(actors, cis, make_user):
    acme, globex = Vendor.objects.create(name="Acme"), Vendor.objects.create(name="Globex")
    walker = Walker(new_release(actors, cis=cis), actors)
    release = walker.to("packaging")
    rm = actors.release_manager
    # An open packaging task of each vendor: start_build waits for both.
    s.task_create(release_id=release.pk, by=rm, title="Acme packaging", step=4, assignee_vendor=acme)
    s.task_create(release_id=release.pk, by=rm, title=SECRET_TITLE, step=4, assignee_vendor=globex)
    vendor_user = make_user("vendor")
    acme.users.add(vendor_user)
    vendor_stakeholder = make_user("vendor", "stakeholder")
    acme.users.add(vendor_stakeholder)
    return release, vendor_user, vendor_stakeholder


def transitions(user, release):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(f"/api/releases/{release.pk}/transitions/")
    assert response.status_code == 200, response.content
    return {row["name"]: row for row in response.json()}


def test_a_vendors_user_reads_that_a_task_blocks_the_step_but_not_another_vendors_title(world, actors):
    release, vendor_user, vendor_stakeholder = world
    for user in (vendor_user, vendor_stakeholder):
        row = transitions(user, release)["start_build"]
        messages = [b["message"] for b in row["blockers"] if b["code"] == "packaging_not_done"]
        assert "Packaging task 'Acme packaging' is not done." in messages  # their own task, by name
        assert "A packaging task you may not see is not done." in messages
        assert SECRET_TITLE not in str(row)
    # Whoever reads every task reads every title.
    row = transitions(actors.release_manager, release)["start_build"]
    assert f"Packaging task '{SECRET_TITLE}' is not done." in [b["message"] for b in row["blockers"]]


def test_a_409_names_only_what_the_actor_may_see(world, actors, make_user):
    release, _, _ = world
    # A release manager who also works for Acme: acts on the release, but is
    # bound to Acme's side of the vendor wall.
    rm_acme = make_user("release_manager")
    Vendor.objects.get(name="Acme").users.add(rm_acme)
    client = APIClient()
    client.force_authenticate(rm_acme)
    response = client.post(f"/api/releases/{release.pk}/transitions/start_build/", {}, format="json")
    assert response.status_code == 409, response.content
    assert SECRET_TITLE not in response.content.decode()
    assert "A packaging task you may not see is not done." in [b["message"] for b in response.json()["blockers"]]
    release.refresh_from_db()
    assert release.state == "packaging"


def test_the_release_page_does_not_show_another_vendors_task_title(world):
    release, _, vendor_stakeholder = world
    client = Client()
    client.force_login(vendor_stakeholder)
    page = client.get(f"/releases/{release.pk}/")
    assert page.status_code == 200
    assert SECRET_TITLE not in page.content.decode()
