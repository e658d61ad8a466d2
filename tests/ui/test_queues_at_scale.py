"""The work queues (the CAB page, the CAB, Go/No-Go and role queues the
dashboard's one queue holds) are asked of the database and shown a page at a time.

They used to load every release before the CAB (with its plans and votes),
every release ready for a Go, and every active release (some 2,600 at 100k
releases), and sort them out in Python. Now SQL filters them: here they are
checked against that straightforward Python reading, on a world of every
state, type and conflict, and the pages are checked to stay the same size
and the same number of queries as the releases triple.
"""
from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from changes.models import ChangeRequest
from releasemgmt.workflow import ROLES, specs, user_roles
from releases import selectors
from releases.choices import ReleaseState, ReleaseType
from releases.guards import go_roles
from releases.models import CabVote, Release, ReleasePlan
from releases.selectors.waiting import work_queue
from tests.helpers import measure

pytestmark = pytest.mark.django_db

ENDED = ("closed", "cancelled")


# --- the Python reading the queries must agree with ------------------------------------------------


def reference_cab_queue(user):
    if "cab_member" not in user_roles(user):
        return []
    out = []
    for release in (Release.objects.filter(state="plan_submitted")
                    .prefetch_related("rfcs", "plans__votes").order_by("planned_start", "pk")):
        plan = release.current_plan
        if plan is None or user.pk in release.conflicted_user_ids():
            continue
        if any(v.created_by_id == user.pk for v in plan.votes.all()):
            continue
        out.append(release.pk)
    return out


def reference_go_queue(user):
    roles = user_roles(user)
    return [r.pk for r in Release.objects.filter(state="ready").prefetch_related("rfcs").order_by("planned_start", "pk")
            if user.pk not in r.conflicted_user_ids() and roles & set(go_roles(r))]


def reference_role_queue(user):
    roles = user_roles(user) - {"release_manager"}
    release_specs = [spec for spec in specs(Release).values()
                     if not spec.internal and spec.name not in selectors.QUEUED_ELSEWHERE]
    out = []
    for release in Release.objects.exclude(state__in=ENDED).order_by("planned_start", "pk"):
        steps = [spec.title for spec in release_specs
                 if release.state in spec.sources and roles & set(spec.roles_for(release))]
        if steps:
            out.append((release.pk, steps))
    return out


# --- a world of every state, type and conflict ----------------------------------------------------


def build_world(rm, requester, others, users):
    """Per state and type, releases managed by each user or whose RFC each user
    requested, and plain ones. Before the CAB, also releases with no plan, one
    plan, or two (the newer by creation time being the current one, whatever
    its version number, ties broken by id), on which each user voted on the
    current plan, the earlier one, both or neither; another member's votes
    everywhere. Windows repeat, so the id orders releases that start together."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    people = [rm, *users]
    rows = []  # (release, manager, rfc requester, plan variant)
    counter = itertools.count()
    for state, release_type in itertools.product(ReleaseState.values, ReleaseType.values):
        conflicts = [(m, requester) for m in people] + [(rm, u) for u in users]
        variants = range(5) if state == "plan_submitted" else [None]
        for (manager, by), variant in itertools.product(conflicts, variants):
            k = next(counter)
            rows.append((Release(title=f"Release {k}", release_type=release_type, release_manager=manager,
                                 state=state, planned_start=now + timedelta(hours=k % 7),
                                 planned_end=now + timedelta(hours=k % 7 + 2)), by, variant))
    releases = Release.objects.bulk_create(r for r, _, _ in rows)
    rfcs = ChangeRequest.objects.bulk_create(
        ChangeRequest(title=f"Change {r.pk}", description="x", requester=by, state="authorized")
        for r, (_, by, _) in zip(releases, rows))
    Release.rfcs.through.objects.bulk_create(
        Release.rfcs.through(release_id=r.pk, changerequest_id=c.pk) for r, c in zip(releases, rfcs))

    # Plan variants: 0 none; 1 one; 2 v1 then v2; 3 v2 made before v1 (v1 is
    # current); 4 v1 and v2 made at the same instant (the later id is current).
    plans, submitted = [], []
    for release, (_, _, variant) in zip(releases, rows):
        if not variant:
            continue
        versions = [1] if variant == 1 else [1, 2]
        made = [ReleasePlan(release=release, version=v, created_by=rm, created_in_state="planning",
                            deployment_start=release.planned_start, deployment_end=release.planned_end)
                for v in versions]
        plans += made
        submitted.append((release, variant, made))
    ReleasePlan.objects.bulk_create(plans)
    stamps = {1: [now], 2: [now - timedelta(hours=2), now - timedelta(hours=1)],
              3: [now - timedelta(hours=1), now - timedelta(hours=2)], 4: [now, now]}
    for release, variant, made in submitted:
        for plan, stamp in zip(made, stamps[variant]):
            plan.created_at = stamp
    ReleasePlan.objects.bulk_update(plans, ["created_at"])

    votes = []
    for i, (release, variant, made) in enumerate(submitted):
        current = max(made, key=lambda p: (p.created_at, p.pk))
        earlier = [p for p in made if p is not current]
        for j, user in enumerate([*users, others]):
            pattern = 1 if user is others else (i // 4 + j) % 4  # every pattern on every variant
            on = {0: [], 1: [current], 2: earlier, 3: made}[pattern]
            votes += [CabVote(release=release, plan=p, created_by=user, decision="approve") for p in on]
    CabVote.objects.bulk_create(votes)
    return releases


@pytest.fixture
def people(actors, make_user):
    return {
        "cab": actors.cab_members[0],
        "cm": actors.change_manager,
        "dm": actors.delivery_manager,
        "deployer": actors.deployment_team,
        "builder": actors.build_team,
        "tester": actors.test_team,
        "rm-cm-cab": make_user("release_manager", "change_manager", "cab_member", username="rm-cm-cab"),
        "admin": make_user(username="admin", is_superuser=True),  # every role
    }


def test_the_queues_are_the_python_reading_of_the_rules(actors, people):
    build_world(actors.release_manager, actors.requester, actors.cab_members[1], list(people.values()))
    submitted = list(Release.objects.filter(state="plan_submitted").order_by("planned_start", "pk")
                     .values_list("pk", flat=True))
    for name, user in people.items():
        expected = reference_cab_queue(user)
        assert list(selectors.cab_queue(user).values_list("pk", flat=True)) == expected, name
        others = list(selectors.plans_under_review(user).values_list("pk", flat=True))
        assert others == [pk for pk in submitted if pk not in expected], name

        go, go_steps = selectors.go_queue(user)
        assert [r.pk for r in go] == reference_go_queue(user), name
        assert all(go_steps[r.state, r.release_type] == ["Go", "No-Go"] for r in go), name

        role, steps = selectors.role_queue(user)
        assert [(r.pk, steps[r.state, r.release_type]) for r in role] == reference_role_queue(user), name

    # The world holds every case: a CAB member's queue, and plans left out for
    # each reason; Go/No-Go queues by type; role queues.
    cab = people["cab"]
    queue = set(reference_cab_queue(cab))
    left_out = Release.objects.filter(state="plan_submitted", plans__isnull=False).exclude(pk__in=queue)
    assert queue and left_out.filter(release_manager=cab).exists() and left_out.filter(rfcs__requester=cab).exists()
    assert left_out.filter(votes__created_by=cab).exclude(release_manager=cab).exclude(rfcs__requester=cab).exists()
    assert Release.objects.filter(pk__in=queue, votes__created_by=cab).exists()  # voted on an earlier version
    assert reference_go_queue(people["dm"]) and reference_go_queue(people["cm"])
    assert reference_role_queue(people["deployer"]) and not reference_role_queue(people["tester"])


def test_the_dashboard_counts_its_queue_truthfully_and_the_queue_page_holds_the_rest(login, actors, people,
                                                                                     monkeypatch):
    """The dashboard's one queue holds each role's CAB votes, Go/No-Go
    decisions and steps (the cards that repeated them are gone): its count is
    the true total, and the queue page pages through all of it."""
    build_world(actors.release_manager, actors.requester, actors.cab_members[1], list(people.values()))
    n = selectors.DASHBOARD_QUEUE
    whole = {name: work_queue(people[name], limit=10_000) for name in ("cab", "dm", "cm")}
    for name, everything in whole.items():
        assert everything.total == len(everything.items) > n, name
        shown = selectors.dashboard(people[name])["work_queue"]
        assert shown.total == everything.total and shown.items == everything.items[:n], name

    def of_kind(name, kind):
        return sorted(i.release_id for i in whole[name].items if i.kind == kind)

    assert of_kind("cab", "cab_vote") == sorted(reference_cab_queue(people["cab"]))
    assert of_kind("dm", "go") == sorted(reference_go_queue(people["dm"]))
    assert set(of_kind("cm", "step")) >= {pk for pk, _ in reference_role_queue(people["cm"])}

    monkeypatch.setattr("releases.views.dashboard.QUEUE_PAGE_SIZE", 40)
    client = login(people["cm"])
    body = client.get("/").content.decode()
    section = body[body.index('id="work-queue"'):body.index("</section>", body.index('id="work-queue"'))]
    total = whole["cm"].total
    assert section.count('class="row-link"') == n and f"The {n} waiting longest of {total:,}" in section
    assert 'href="/queue/"' in section
    listed = []
    for page in range(1, -(-total // 40) + 1):
        listed += re.findall(r'class="row-link" href="([^"]+)"', client.get("/queue/", {"page": page}).content.decode())
    assert listed == [i.url for i in whole["cm"].items]


def test_the_cab_page_pages_through_both_lists(login, actors, people, monkeypatch):
    build_world(actors.release_manager, actors.requester, actors.cab_members[1], list(people.values()))
    monkeypatch.setattr("releases.views.cab.CAB_PAGE_SIZE", 7)  # pages of 7: many pages, quickly
    cab = people["cab"]
    client = login(cab)
    expected = reference_cab_queue(cab)
    others = [pk for pk in Release.objects.filter(state="plan_submitted").order_by("planned_start", "pk")
              .values_list("pk", flat=True) if pk not in expected]

    def listed(page, section):
        body = page.content.decode()
        start = body.index(f'id="{section}"')
        part = body[start:body.index("</section>", start)]
        return [int(x) for x in re.findall(r'href="/cab/(\d+)/"', part)]

    seen, seen_others = [], []
    for p in range(1, -(-len(expected) // 7) + 1):
        seen += listed(client.get("/cab/", {"page": p, "others_page": 2}), "cab-queue")
    for p in range(1, -(-len(others) // 7) + 1):
        seen_others += listed(client.get("/cab/", {"page": 3, "others_page": p}), "cab-others")
    assert seen == expected and seen_others == others
    # Each row names its current plan version (the newest made, not the highest number).
    shown = {}
    for p in range(1, -(-len(expected) // 7) + 1):
        body = client.get("/cab/", {"page": p}).content.decode()
        shown.update((int(pk), int(v)) for pk, v in re.findall(r'href="/cab/(\d+)/".*?plan v(\d+) ·', body, re.DOTALL))
    current = {r.pk: r.current_plan.version for r in Release.objects.filter(pk__in=expected).prefetch_related("plans")}
    assert shown == current and set(current.values()) == {1, 2}
    page = client.get("/cab/", {"page": 2, "others_page": 2}).content.decode()
    assert f"8–14 of {len(expected)}" in page and f"8–14 of {len(others)}" in page
    # Each pager keeps the other list's page.
    assert 'href="?page=3&amp;others_page=2#cab-queue"' in page
    assert 'href="?page=2&amp;others_page=3#cab-others"' in page


def test_every_transition_s_roles_follow_from_the_release_type_alone():
    """What the queues' SQL relies on: a callable ``roles`` asked with a
    release reduced to its type gives what it gives for a real release."""
    for spec in specs(Release).values():
        for release_type in ReleaseType.values:
            assert set(spec.roles_for(selectors._OnlyItsType(release_type))) == set(
                spec.roles_for(Release(release_type=release_type, title="x"))), spec.name
    assert selectors._acting(frozenset(ROLES))  # every spec, every type: nothing else read


# --- the pages stay the same size as the releases triple ---------------------------------------------


# More than a CAB page (50) holds in each of its lists, and than a dashboard
# queue (20) in every queue measured, at N as at 3N: the count under a full
# list is one more query.
N = 130
ACTIVE = [s for s in ReleaseState.values if s not in ENDED + ("plan_submitted",)]
ROLE_STATES = ("backed_up", "deploying", "verified", "evaluated", "in_review")


class World:
    """Releases added ``n`` at a time, of every type in turn: ``n`` before
    the CAB (every other one voted on by the CAB member, so both lists of the
    CAB page grow), ``n`` ready for a Go, and ``n`` where a deployment
    engineer or a change manager acts, or in any other active state."""

    def __init__(self, actors):
        self.actors = actors
        self.counter = itertools.count(1000)  # titles as long at 3N as at N
        self.now = timezone.now().replace(minute=0, second=0, microsecond=0)

    def grow(self, n):
        rm, cab = self.actors.release_manager, self.actors.cab_members[0]
        states = (["plan_submitted"] * n + ["ready"] * n
                  + [ROLE_STATES[i % 5] if i % 2 else ACTIVE[i % len(ACTIVE)] for i in range(n)])
        batch = [next(self.counter) for _ in states]
        releases = Release.objects.bulk_create(
            Release(title=f"Release {k}", release_type=ReleaseType.values[k % 3], release_manager=rm, state=state,
                    planned_start=self.now + timedelta(hours=k % 48),
                    planned_end=self.now + timedelta(hours=k % 48 + 3))
            for state, k in zip(states, batch))
        rfcs = ChangeRequest.objects.bulk_create(
            ChangeRequest(title=f"Change {k}", description="x", requester=self.actors.requester, state="authorized")
            for k in batch[:n])
        Release.rfcs.through.objects.bulk_create(
            Release.rfcs.through(release_id=r.pk, changerequest_id=c.pk) for r, c in zip(releases, rfcs))
        plans = ReleasePlan.objects.bulk_create(
            ReleasePlan(release=r, version=1, created_by=rm, created_in_state="planning",
                        deployment_start=r.planned_start, deployment_end=r.planned_end) for r in releases[:n])
        CabVote.objects.bulk_create(CabVote(release=p.release, plan=p, created_by=cab, decision="approve")
                                    for p in plans[::2])


def test_the_cab_page_and_the_dashboards_do_not_grow_with_the_releases(client, actors):
    users = {"cab": actors.cab_members[0], "deployer": actors.deployment_team, "tester": actors.test_team,
             "dm": actors.delivery_manager, "cm": actors.change_manager}
    world = World(actors)

    def sizes():
        out = {}
        for name, user in users.items():
            client.force_login(user)
            for url in ("/", "/cab/"):
                out[name, url] = measure(client, url)
        return out

    world.grow(N)
    small = sizes()
    world.grow(2 * N)
    large = sizes()
    grown = {key: (small[key], large[key]) for key in small
             if large[key][0] != small[key][0] or large[key][1] > small[key][1] * 1.02 + 300}
    assert not grown, "pages that grew with the releases, (queries, bytes) at N and 3N: " + repr(grown)

    client.force_login(users["cab"])
    body = client.get("/cab/").content.decode()
    assert f"1–50 of {3 * N // 2}" in body  # half the plans before the CAB await the member's vote
