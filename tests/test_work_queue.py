"""What waits on each person (releases.selectors.waiting): its contents per
role, derived from the declarations; vendor isolation; items leaving when
done; the dashboard and ``GET /api/me/queue/`` showing the same items in a
fixed number of queries."""
from datetime import timedelta

import pytest
from django.test.utils import CaptureQueriesContext
from django.db import connection

from changes.models import ChangeRequest
from changes.services import rfc_create, rfc_transition
from cmdb.models import ConfigurationItem
from releasemgmt.workflow import name_of
from releases import services as s
from releases.models import Release
from releases.scenario import Walker, new_release
from releases.selectors.waiting import work_queue
from tests.helpers import html, token_client

pytestmark = pytest.mark.django_db


def queue_of(user, **kw):
    return [(i.kind, i.action, i.url) for i in work_queue(user, limit=50, **kw).items]


@pytest.fixture
def walker(actors, cis):
    return Walker(new_release(actors, cis=cis), actors)


# What waits on whom, state by state: (state, actor) -> the items (kind, action, address).
EXPECTED = {
    "plan_submitted": {"cab_members": [("cab_vote", "Vote on plan v1", "/cab/{r}/#vote")]},
    "building": {
        "release_manager": [("step", "Complete build", "/releases/{r}/#next-steps")],
        "build_team": [("step", "Complete build", "/releases/{r}/#next-steps")],
        "configuration_manager": [("baseline", "Capture the pre-release baseline", "/releases/{r}/#baselines"),
                                  ("record:prerequisite_checks", "Record the prerequisite check",
                                   "/releases/{r}/records/prerequisite_checks/")],
    },
    "testing": {
        "release_manager": [("step", "Pass tests", "/releases/{r}/#next-steps")],
        "test_team": [("record:test_results", "Record the test result", "/releases/{r}/records/test_results/")],
    },
    "plans_updated": {
        "release_manager": [("step", "Prepare", "/releases/{r}/#next-steps")],
        "deployment_team": [("record:environment_readiness", "Record the environment readiness",
                             "/releases/{r}/records/environment_readiness/")],
    },
    "ready": {
        "delivery_manager": [("go", "Decide Go or No-Go", "/releases/{r}/#next-steps"),
                             ("record:readiness_assessments", "Record the readiness assessment",
                              "/releases/{r}/records/readiness_assessments/")],
    },
    "deployed": {
        "release_manager": [("step", "Verify deployment", "/releases/{r}/#next-steps")],
        "deployment_team": [("record:health_checks", "Record the health check",
                             "/releases/{r}/records/health_checks/")],
    },
    "verified": {"change_manager": [("step", "Evaluate", "/releases/{r}/#next-steps")]},
}
ROLES = ("release_manager", "change_manager", "cab_members", "delivery_manager", "build_team", "test_team",
         "deployment_team", "configuration_manager")


@pytest.mark.parametrize("state", sorted(EXPECTED))
def test_each_role_sees_what_waits_on_it_in_each_state(walker, actors, state):
    release = walker.to(state)
    for role in ROLES:
        user = getattr(actors, role)
        user = user[2] if isinstance(user, list) else user
        # Release tasks are not this test's concern (see the vendor test).
        got = [i for i in queue_of(user) if i[0] != "task"]
        want = [(k, a, u.format(r=release.pk)) for k, a, u in EXPECTED[state].get(role, [])]
        assert sorted(got) == sorted(want), (state, role)


def test_a_change_manager_assesses_then_a_cab_member_authorises_and_the_item_moves(actors):
    rfc = rfc_create(by=actors.requester, title="Add a cache", description="Faster orders.")
    url = f"/rfcs/{rfc.pk}/#next-steps"
    assert queue_of(actors.change_manager) == [("rfc", "Assess", url)]
    assert queue_of(actors.cab_members[0]) == []
    # The requester never decides their own RFC.
    assert queue_of(actors.requester) == []
    rfc_transition(rfc_id=rfc.pk, name=name_of(ChangeRequest.assess), by=actors.change_manager)
    assert queue_of(actors.change_manager) == [("rfc", "Authorise", url)]
    assert queue_of(actors.cab_members[0]) == [("rfc", "Authorise", url)]
    rfc_transition(rfc_id=rfc.pk, name=name_of(ChangeRequest.authorize), by=actors.cab_members[0],
                   signature=actors.signature())
    assert queue_of(actors.change_manager) == queue_of(actors.cab_members[0]) == []


def test_an_item_leaves_the_queue_when_its_work_is_done(walker, actors):
    walker.to("plan_submitted")
    walker.add("votes", actors.cab_members[2], decision="approve", comment="Fine.")
    assert queue_of(actors.cab_members[2]) == []
    assert queue_of(actors.cab_members[0])  # the others have not voted yet
    walker.to("testing")
    assert [k for k, *_ in queue_of(actors.test_team)] == ["record:test_results"]
    cases = list(walker.release.test_cases.all())
    walker.add("test_results", actors.test_team, test_case=cases[0], outcome="passed")
    assert [k for k, *_ in queue_of(actors.test_team)] == ["record:test_results"]  # one case left
    walker.add("test_results", actors.test_team, test_case=cases[1], outcome="passed")
    assert queue_of(actors.test_team) == []
    task = walker.release.tasks.get(step=12)
    assert ("task", f"Task: {task.title}", f"/tasks/{task.pk}/") in queue_of(actors.deployment_team)


def test_the_baseline_leaves_the_configuration_managers_queue_once_captured(walker, actors):
    release = walker.to("building")
    assert ("baseline", "Capture the pre-release baseline", f"/releases/{release.pk}/#baselines") in \
        queue_of(actors.configuration_manager)
    s.release_capture_baseline(release_id=release.pk, by=actors.configuration_manager)
    assert "baseline" not in [k for k, *_ in queue_of(actors.configuration_manager)]


def test_a_vendor_sees_its_own_tasks_and_nothing_else(walker, actors, make_user, make_vendor):
    release = walker.to("plan_approved")
    ours, theirs = make_vendor("Acme"), make_vendor("Globex")
    acme, globex = make_user("vendor"), make_user("vendor")
    ours.users.add(acme)
    theirs.users.add(globex)
    window = dict(planned_start=release.planned_start + timedelta(hours=4),
                  planned_end=release.planned_end - timedelta(hours=4))
    mine = s.task_create(release_id=release.pk, by=actors.release_manager, title="Patch the appliance",
                         assignee_vendor=ours, **window)
    s.task_create(release_id=release.pk, by=actors.release_manager, title="Globex firmware",
                  assignee_vendor=theirs, **window)
    assert queue_of(acme) == [("task", "Task: Patch the appliance", f"/tasks/{mine.pk}/")]
    assert [a for _, a, _ in queue_of(globex)] == ["Task: Globex firmware"]
    api = token_client(acme).get("/api/me/queue/")
    assert api.status_code == 200
    assert [r["action"] for r in api.json()["results"]] == ["Task: Patch the appliance"]


def test_the_release_managers_next_steps_are_on_their_own_releases_only(actors, cis, make_user):
    other_rm = make_user("release_manager")
    release = new_release(actors, cis=cis)
    assert queue_of(actors.release_manager) == [("step", "Start planning", f"/releases/{release.pk}/#next-steps")]
    assert queue_of(other_rm) == []


# --- the dashboard and the API ------------------------------------------------------------


def _releases_in_testing(actors, cis, n):
    """``n`` releases in testing, each changing CIs of its own (the same CIs
    in the same window would be a conflict)."""
    start = Release.objects.count()
    for i in range(start, start + n):
        own = [ConfigurationItem.objects.create(name=f"svc-{i}", ci_type="application", version="1.0")]
        Walker(new_release(actors, cis=own, title=f"R{i}"), actors).to("testing")


def test_the_dashboard_leads_with_the_queue_counted_and_linked(client, actors, cis):
    _releases_in_testing(actors, cis, 2)
    client.force_login(actors.test_team)
    body = html(client.get("/"))
    section = body[body.index('id="work-queue"'):]
    section = section[:section.index("</section>")]
    assert body.index('id="work-queue"') < body.index('id="overdue"')
    assert 'id="my-tasks"' not in body  # the tasks are in the queue, not in a card of their own
    assert '<span class="count">2</span>' in section
    for release in Release.objects.all():
        assert f'href="/releases/{release.pk}/records/test_results/"' in section


def test_the_api_lists_the_same_items_paged(actors, cis):
    _releases_in_testing(actors, cis, 3)
    api = token_client(actors.test_team)
    first = api.get("/api/me/queue/", {"page_size": 2}).json()
    second = api.get("/api/me/queue/", {"page_size": 2, "page": 2}).json()
    assert first["count"] == second["count"] == 3
    assert first["next"].endswith("page=2&page_size=2") and second["next"] is None
    items = work_queue(actors.test_team, limit=10).items
    assert [r["key"] for r in first["results"] + second["results"]] == [i.key for i in items]
    row = first["results"][0]
    assert row["url"] == f"http://testserver{items[0].url}" and row["kind"] == "record:test_results"
    assert set(row) == {"key", "kind", "action", "subject", "release", "release_number", "since", "url"}
    assert api.get("/api/me/queue/", {"page": 9}).status_code == 404
    assert api.get("/api/me/queue/", {"page": "x"}).status_code == 404
    assert api.get("/api/me/queue/", {"page_size": "0"}).status_code == 400
    assert token_client(None).get("/api/me/queue/").status_code == 401


def _queries(fn):
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who", ["release_manager", "test_team", "change_manager"])
def test_the_queue_costs_the_same_queries_however_many_items(client, actors, cis, who):
    user = getattr(actors, who)
    api = token_client(user)
    client.force_login(user)
    _releases_in_testing(actors, cis, 1)
    api.get("/api/me/queue/"), client.get("/")  # warm: content types, sessions
    counts = (_queries(lambda: api.get("/api/me/queue/")), _queries(lambda: client.get("/")))
    _releases_in_testing(actors, cis, 4)
    rfc_create(by=actors.requester, title="Another", description="More.")
    assert (_queries(lambda: api.get("/api/me/queue/")), _queries(lambda: client.get("/"))) == counts
    # And pinned: one query per source (its count only when a page is full).
    assert counts[0] <= {"release_manager": 12, "test_team": 8, "change_manager": 12}[who]
