"""The browser's pages stay the same size as the data grows.

A release tool with a few years of history holds 100,000 releases, a million
tasks and 50,000 CIs. Pages that drew every row (or offered every CI in a
dropdown) were megabytes long there and took seconds. Each page is drawn
with a world of N rows of every kind, then 3N: neither its queries nor its
size may grow, beyond the few characters of larger counts.
"""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from changes.models import ChangeRequest
from cmdb.models import ConfigurationItem
from releases.models import Release, ReleasePlan, ReleaseScopeItem, Task, Team
from tests.helpers import measure

pytestmark = pytest.mark.django_db

# More than any page shows at once: 50 rows a page or a board column, 100
# open RFCs offered, 200 CI names suggested, 20 in a dashboard queue, five
# entries a calendar day.
N = 340

PAGES = [
    "/", "/releases/", "/releases/new/", "/reports/", "/cab/", "/calendar/", "/calendar/?view=week",
    "/tasks/", "/tasks/?scope=mine", "/rfcs/", "/cmdb/", "/cmdb/baselines/", "/rfcs/problems/",
]
# Plans before the CAB weigh more: the CAB page lists 50 a page.
RELEASE_STATES = ["new", "planning", "plan_submitted", "plan_approved", "scheduled", "packaging", "building",
                  "testing", "deploying", "closed", "plan_submitted", "ready", "in_review", "plan_submitted",
                  "plan_submitted"]
TASK_STATES = ["open", "in_progress", "blocked", "done"]


class World:
    """Rows of every kind, added ``n`` at a time, all in this month's calendar."""

    def __init__(self, actors):
        self.actors = actors
        self.team = Team.objects.create(name="Deployment team")
        self.team.members.add(actors.release_manager)
        self.counter = itertools.count(1)
        self.now = timezone.now().replace(minute=0, second=0, microsecond=0)

    def grow(self, n):
        rm, requester = self.actors.release_manager, self.actors.requester
        batch = [next(self.counter) for _ in range(n)]
        cis = ConfigurationItem.objects.bulk_create(
            ConfigurationItem(name=f"ci-{k:05d}", version="1.0") for k in batch)
        ChangeRequest.objects.bulk_create(
            ChangeRequest(title=f"Change {k}", description="x", requester=requester, state="authorized")
            for k in batch)
        releases = Release.objects.bulk_create(
            Release(title=f"Release {k}", release_type="minor", release_manager=rm,
                    state=RELEASE_STATES[k % len(RELEASE_STATES)],
                    planned_start=self.now + timedelta(hours=k % 48), planned_end=self.now + timedelta(hours=k % 48 + 3))
            for k in batch)
        ReleasePlan.objects.bulk_create(
            ReleasePlan(release=r, version=1, scope="Everything.", created_by=rm, created_in_state="planning",
                        deployment_start=r.planned_start, deployment_end=r.planned_end)
            for r in releases if r.state != "new")
        ReleaseScopeItem.objects.bulk_create(
            ReleaseScopeItem(release=r, ci=ci, target_version="2.0") for r, ci in zip(releases, cis))
        Task.objects.bulk_create(
            Task(release=releases[i % 7], title=f"Task {k}", state=TASK_STATES[k % 4], step=12,
                 assignee_user=rm if k % 2 else None, assignee_team=None if k % 2 else self.team,
                 planned_start=self.now + timedelta(hours=k % 48), planned_end=self.now + timedelta(hours=k % 48 + 2))
            for i, k in enumerate(batch * 2))
        if connection.vendor == "postgresql":
            # A deployed database keeps its statistics current (autovacuum).
            # The test database's may date from when its tables were empty:
            # the planner then takes every table for one row and nests loops
            # over thousands (a reports count ran for minutes in CI).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")


@pytest.mark.parametrize("who", ["release_manager", "cab_member", "deployment_team"])
def test_no_page_grows_with_the_data(login, actors, who):
    world = World(actors)
    world.grow(N)
    user = actors.cab_members[0] if who == "cab_member" else getattr(actors, who)
    client = login(user)
    release = Release.objects.filter(state="planning").order_by("pk").first()
    pages = PAGES + [f"/releases/{release.pk}/", "/releases/?ci=ci-00001", "/reports/?ci=ci-00001"]
    seen = (200, 403)  # 403: not this user's page
    small = {url: measure(client, url, statuses=seen) for url in pages}

    world.grow(2 * N)
    large = {url: measure(client, url, statuses=seen) for url in pages}

    grown = {url: (small[url], large[url]) for url in pages
             if large[url][0] != small[url][0] or large[url][1] > small[url][1] * 1.02 + 300}
    assert not grown, "pages that grew with the data, (queries, bytes) at N and 3N: " + repr(grown)


def test_a_ci_is_found_by_name_or_id_and_an_unknown_one_is_said_so(login, actors):
    world = World(actors)
    world.grow(N)
    client = login(actors.release_manager)
    ci = ConfigurationItem.objects.get(name="ci-00007")
    by_name = client.get("/releases/", {"ci": "CI-00007"})
    by_id = client.get("/releases/", {"ci": ci.pk})
    touching = Release.objects.filter(scope_items__ci=ci)
    for response in (by_name, by_id):
        assert response.status_code == 200
        assert all(r.number in response.content.decode() for r in touching)
        assert "Release 8<" not in response.content.decode()
    # More CIs than the suggestions hold: no list of names at all.
    assert b"<datalist" not in by_name.content
    unknown = client.get("/releases/", {"ci": "no-such-ci"})
    assert "No configuration item has the name or id “no-such-ci”." in unknown.content.decode()

    release = Release.objects.filter(state="planning").order_by("pk").first()
    added = client.post(f"/releases/{release.pk}/scope/", {"scope-ci": "ci-00042", "scope-target_version": "3.1"})
    assert added.status_code == 302
    assert release.scope_items.filter(ci__name="ci-00042", target_version="3.1").exists()


def test_a_small_cmdb_is_offered_as_suggestions(login, actors, cis):
    page = login(actors.release_manager).get("/releases/").content.decode()
    assert '<datalist id="id_ci_suggestions">' in page
    assert all(f'<option value="{ci.name}">' in page for ci in cis)


def test_an_older_rfc_is_offered_when_chosen_from_its_page(login, actors):
    World(actors).grow(N)
    client = login(actors.release_manager)
    oldest = ChangeRequest.objects.order_by("pk").first()
    newest = ChangeRequest.objects.order_by("-pk").first()
    page = client.get("/releases/new/").content.decode()
    assert page.count('name="rfcs"') == 100 and newest.number in page and oldest.number not in page
    assert "The 100 newest open RFCs are listed" in page
    chosen = client.get("/releases/new/", {"rfc": oldest.pk}).content.decode()
    assert oldest.number in chosen and chosen.count('name="rfcs"') == 101
