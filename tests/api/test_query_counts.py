"""Query-count baselines (NetBox style): each read endpoint costs the same
number of queries whether it serves 10, 50 or 200 rows, and that number is
pinned, so an N+1 in a serializer or a guard fails here first.

The data is made with the ORM (bulk_create) because only its size matters;
each row carries the relations its serializer or the guards read.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from changes.models import ChangeRequest
from cmdb.models import ConfigurationItem
from releases.models import (
    CabVote,
    Release,
    ReleasePlan,
    ReleaseScopeItem,
    RollbackAdvice,
    Task,
    Team,
    TestCase,
    TestResult,
    Vendor,
)

pytestmark = pytest.mark.django_db

SIZES = (10, 50, 200)
H = timedelta(hours=1)
MEASURED: dict[str, dict[int, int]] = {}


def queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.fixture
def reader(make_user, client_for):
    user = make_user("release_manager", "change_manager")
    client = client_for(user)
    client.get("/api/users/me/")  # warm the content types and the token once
    return user, client


def rfcs(n, requester, tag):
    return ChangeRequest.objects.bulk_create(
        [ChangeRequest(title=f"{tag} {i}", description="d", requester=requester, state="authorized")
         for i in range(n)])


def releases_with_rfcs(n, manager, requester, tag):
    now = timezone.now()
    made = Release.objects.bulk_create([
        Release(title=f"{tag} {i}", release_type="minor", release_manager=manager, planned_start=now,
                planned_end=now + 24 * H) for i in range(n)])
    linked = rfcs(2 * n, requester, tag)
    Release.rfcs.through.objects.bulk_create([
        Release.rfcs.through(release_id=r.pk, changerequest_id=linked[2 * i + k].pk)
        for i, r in enumerate(made) for k in (0, 1)])
    return made


def assert_constant(name, counts):
    MEASURED[name] = counts
    assert len(set(counts.values())) == 1, f"{name}: query count grows with rows: {counts}"


def test_release_list(reader, make_user):
    user, client = reader
    requester = make_user("stakeholder")
    counts = {}
    for n in SIZES:
        Release.objects.all().delete()
        releases_with_rfcs(n, user, requester, "list")
        counts[n] = queries(client, f"/api/releases/?page_size={n}")
        assert len(client.get(f"/api/releases/?page_size={n}").json()["results"]) == n
    assert_constant("release list", counts)
    # token+user, roles, count, page, rfcs
    assert counts[10] == 5


def test_release_detail(reader, make_user):
    user, client = reader
    requester = make_user("stakeholder")
    counts = {}
    for n in SIZES:
        release = releases_with_rfcs(1, user, requester, f"detail{n}")[0]
        Release.rfcs.through.objects.bulk_create(
            [Release.rfcs.through(release_id=release.pk, changerequest_id=r.pk)
             for r in rfcs(n - 2, requester, f"more{n}")])
        assert len(client.get(f"/api/releases/{release.pk}/").json()["rfcs"]) == n
        counts[n] = queries(client, f"/api/releases/{release.pk}/")
    assert_constant("release detail", counts)
    assert counts[10] == 4  # token+user, roles, release, rfcs


def loaded_release(n, state, user, people):
    """A release in ``state`` with n RFCs, tasks, scope items, test cases
    (each with a result), plan votes and rollback advice from n advisers."""
    requester, cab, advisers = people
    now = timezone.now()
    release = Release.objects.create(title=f"{state} {n}", release_type="minor", release_manager=user,
                                     planned_start=now - H, planned_end=now + 24 * H, state=state)
    Release.rfcs.through.objects.bulk_create([Release.rfcs.through(release_id=release.pk, changerequest_id=r.pk)
                                              for r in rfcs(n, requester, f"{state}{n}")])
    Task.objects.bulk_create([Task(release=release, title=f"t{i}", step=4 if i % 2 else 12) for i in range(n)])
    cis = ConfigurationItem.objects.bulk_create(
        [ConfigurationItem(name=f"{state}-{n}-ci{i}", version="1.0") for i in range(n)])
    ReleaseScopeItem.objects.bulk_create([ReleaseScopeItem(release=release, ci=ci, target_version="")
                                          for ci in cis])
    cases = TestCase.objects.bulk_create([TestCase(release=release, name=f"c{i}", created_by=user)
                                          for i in range(n)])
    TestResult.objects.bulk_create([TestResult(release=release, test_case=c, outcome="failed", created_by=user)
                                    for c in cases])
    plan = ReleasePlan.objects.create(release=release, version=1, created_by=user, created_in_state="planning")
    CabVote.objects.bulk_create([CabVote(release=release, plan=plan, decision="approve", created_by=cab[i])
                                 for i in range(min(n, len(cab)))])
    RollbackAdvice.objects.bulk_create([RollbackAdvice(release=release, advice="a", created_by=advisers[i])
                                        for i in range(n)])
    return release


@pytest.fixture
def crowd(make_user, django_user_model):
    """Enough users to give every row its own author."""
    requester = make_user("stakeholder")
    dm = Group.objects.get_or_create(name="delivery_manager")[0]
    cabg = Group.objects.get_or_create(name="cab_member")[0]
    users = django_user_model.objects.bulk_create(
        [django_user_model(username=f"crowd{i}") for i in range(max(SIZES) * 2)])
    django_user_model.groups.through.objects.bulk_create(
        [django_user_model.groups.through(user_id=u.pk, group_id=(dm if i % 2 else cabg).pk)
         for i, u in enumerate(users)])
    return requester, users[:max(SIZES)], users[max(SIZES):]


GUARDED_STATES = ["new", "plan_submitted", "plan_approved", "scheduled", "packaging", "building", "testing",
                  "deployed", "in_review", "succeeded"]


@pytest.mark.parametrize("state", GUARDED_STATES)
def test_transition_list(reader, crowd, state):
    user, client = reader
    counts = {}
    for n in SIZES:
        release = loaded_release(n, state, user, crowd)
        rows = client.get(f"/api/releases/{release.pk}/transitions/").json()
        assert rows, state
        counts[n] = queries(client, f"/api/releases/{release.pk}/transitions/")
    assert_constant(f"transition list ({state})", counts)
    assert counts[10] <= 20


def test_task_list_with_cursor(reader, make_user):
    user, client = reader
    release = Release.objects.create(title="tasks", release_manager=user)
    team = Team.objects.create(name="Ops")
    vendor = Vendor.objects.create(name="Acme")
    counts = {}
    for n in SIZES:
        Task.objects.all().delete()
        Task.objects.bulk_create([Task(release=release, title=f"t{i}", assignee_user=user, assignee_team=team,
                                       assignee_vendor=vendor) for i in range(n)])
        page = client.get(f"/api/tasks/?page_size={n}").json()
        assert len(page["results"]) == n
        counts[n] = queries(client, f"/api/tasks/?page_size={n}")
    assert_constant("task list (cursor)", counts)
    assert counts[10] == 3  # token+user, roles, page (a cursor page has no count)


def test_rfc_list(reader, make_user):
    user, client = reader
    requester = make_user("stakeholder")
    counts = {}
    for n in SIZES:
        Release.objects.all().delete()
        ChangeRequest.objects.all().delete()
        releases_with_rfcs(n, user, requester, "rfc")  # 2n RFCs, each in a release
        assert len(client.get(f"/api/rfcs/?page_size={n}").json()["results"]) == n
        counts[n] = queries(client, f"/api/rfcs/?page_size={n}")
    assert_constant("RFC list", counts)
    assert counts[10] == 5  # token+user, roles, count, page, releases


def test_ci_list(reader):
    user, client = reader
    counts = {}
    for n in SIZES:
        ConfigurationItem.objects.all().delete()
        cis = ConfigurationItem.objects.bulk_create(
            [ConfigurationItem(name=f"ci{n}-{i:03d}", version="1", owner=user) for i in range(n)])
        through = ConfigurationItem.depends_on.through
        through.objects.bulk_create([through(from_configurationitem_id=a.pk, to_configurationitem_id=b.pk)
                                     for a, b in zip(cis, cis[1:])])
        assert len(client.get(f"/api/cis/?page_size={n}").json()["results"]) == n
        counts[n] = queries(client, f"/api/cis/?page_size={n}")
    assert_constant("CI list", counts)
    assert counts[10] == 6  # token+user, roles, count, page, depends_on, dependants


def test_report_the_measured_counts(capsys):
    """Prints what the tests above measured (run with -s to see it)."""
    with capsys.disabled():
        for name, counts in MEASURED.items():
            print(f"  {name:40s} {counts}")
