"""History over the API (issue 18, point 1): ``GET /api/<resource>/{id}/history/``
for releases, RFCs, tasks, CIs and problem records: every transition (with
its signature where the decision was signed) and every record change (which
fields, from what to what), oldest first, paginated, shown exactly to
whoever may see the object, in a fixed number of queries per page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from changes.models import Problem
from changes.services import problem_create_from_release, problem_transition, problem_update
from cmdb.services import ci_transition, ci_update
from releasemgmt.workflow import name_of
from releases import services as s
from releases.models import Release, Task, TestCase, TransitionLog
from tests.helpers import grant, logs_of, reach

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def history(client, path, **params):
    response = client.get(path, {"page_size": 200, **params})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def vendors(make_vendor, make_user):
    """Two vendors, each with a user holding only the vendor role."""
    out = {}
    for name in ("Acme", "Globex"):
        vendor = make_vendor(name)
        user = make_user("vendor", username=f"{name.lower()}-user")
        vendor.users.add(user)
        out[name] = (vendor, user)
    return out


@pytest.fixture
def scheduled(actors, cis, vendors):
    """A scheduled release with one task for each vendor, each started by
    its vendor's user and then renamed by the release manager."""
    walker = reach(actors, cis, "scheduled")
    release = walker.release
    tasks = {}
    for name, (vendor, user) in vendors.items():
        task = s.task_create(release_id=release.pk, by=actors.release_manager, title=f"{name} secret work",
                             step=12, assignee_vendor=vendor, planned_start=release.planned_start + 3 * H,
                             planned_end=release.planned_end - 3 * H)
        s.task_transition(task_id=task.pk, name=name_of(Task.start), by=user)
        s.task_update(task_id=task.pk, by=actors.release_manager, title=f"{name} secret work, phase 1")
        tasks[name] = task
    return walker, tasks


# --- what an entry says ---------------------------------------------------------------------------------------------


def test_release_history_holds_every_transition_and_record_change_oldest_first(actors, cis, client_for):
    walker = reach(actors, cis, "plan_approved")
    release = walker.release
    body = history(client_for(actors.release_manager), f"/api/releases/{release.pk}/history/")
    entries = body["results"]
    assert body["count"] == len(entries)
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)

    transitions = [e for e in entries if e["kind"] == "transition" and e["subject_type"] == "release"]
    assert [e["transition"]["name"] for e in transitions] == \
        list(logs_of(release).order_by("at", "id").values_list("name", flat=True))
    approve = next(e for e in transitions if e["transition"]["name"] == name_of(Release.approve_plan))
    assert approve["actor_username"] == actors.cab_members[0].username
    assert (approve["transition"]["from"], approve["transition"]["to"]) == ("plan_submitted", "plan_approved")
    assert approve["transition"]["step"] == 2
    signature = approve["transition"]["signature"]
    assert signature["signer_username"] == actors.cab_members[0].username
    assert signature["meaning"] == name_of(Release.approve_plan) and signature["method"] == "password"
    assert len(signature["fingerprint"]) == 64 and signature["at"]
    assert approve["transition"]["entry_point"] == signature["entry_point"]
    unsigned = next(e for e in transitions if e["transition"]["name"] == name_of(Release.start_planning))
    assert unsigned["transition"]["signature"] is None and unsigned["change"] is None

    # The plan's creation, field by field, and the votes on it.
    plan = next(e for e in entries if e["subject_type"] == "plans")
    assert plan["kind"] == "change" and plan["transition"] is None
    assert plan["change"]["type"] == "created" and plan["subject_id"] == release.plans.get().pk
    fields = {c["field"]: c for c in plan["change"]["fields"]}
    assert fields["scope"] == {"field": "scope", "from": None, "to": "Components listed in the release scope."}
    votes = [e for e in entries if e["subject_type"] == "votes"]
    assert {e["subject_id"] for e in votes} == set(release.votes.values_list("pk", flat=True))
    # A vote is a signed decision written as a record: its creation carries the voter's signature.
    assert {(e["actor_username"], e["change"]["signature"]["signer_username"], e["change"]["signature"]["meaning"])
            for e in votes} == {(m.username, m.username, "vote: approve") for m in actors.cab_members[:2]}
    assert plan["change"]["signature"] is None
    # The release row's own changes: its state moved by each transition, which the change names.
    moved = [e for e in entries if e["subject_type"] == "release" and e["kind"] == "change"
             and e["change"]["type"] == "changed" and any(c["field"] == "state" for c in e["change"]["fields"])]
    assert moved[0]["change"]["reason"] == name_of(Release.start_planning)
    assert {"field": "state", "from": "new", "to": "planning"} in moved[0]["change"]["fields"]
    # Its RFCs (a many-to-many field) as ids.
    rfc_ids = list(release.rfcs.values_list("pk", flat=True))
    assert any(c["field"] == "rfcs" and c["to"] == rfc_ids for e in entries if e["subject_type"] == "release"
               for c in (e["change"] or {}).get("fields", []))


def test_a_change_lists_only_the_fields_that_changed_from_what_to_what(actors, cis, client_for):
    release = reach(actors, cis, "planning").release
    old_title = release.title
    s.release_update(release_id=release.pk, by=actors.release_manager, title="Quarterly release, revised",
                     acceptance_criteria="Orders flow end to end.")
    last = history(client_for(actors.change_manager), f"/api/releases/{release.pk}/history/")["results"][-1]
    assert last["kind"] == "change" and last["change"]["type"] == "changed"
    assert last["actor"] == actors.release_manager.pk
    assert sorted(last["change"]["fields"], key=lambda c: c["field"]) == [
        {"field": "acceptance_criteria", "from": "", "to": "Orders flow end to end."},
        {"field": "title", "from": old_title, "to": "Quarterly release, revised"},
    ]


def test_start_deployment_in_a_history_shows_what_the_step_took(actors, cis, client_for):
    from releases.models import FreezeWindow

    walker = reach(actors, cis, "backed_up", release_type="emergency")
    FreezeWindow.objects.create(name="Year-end freeze", start=timezone.now() - H, end=timezone.now() + 24 * H)
    walker.go(name_of(Release.start_deployment), actors.deployment_team, freeze_override_reason="CVE hotfix")
    entries = history(client_for(actors.release_manager), f"/api/releases/{walker.release.pk}/history/")["results"]
    start = next(e for e in entries if e["kind"] == "transition"
                 and e["transition"]["name"] == name_of(Release.start_deployment))
    assert start["transition"]["payload"] == {"freeze_override_reason": "CVE hotfix"}
    deployment = next(e for e in entries if e["subject_type"] == "deployments")
    assert {"field": "freeze_override_reason", "from": None, "to": "CVE hotfix"} in deployment["change"]["fields"]


def test_rfc_task_ci_and_problem_have_their_history(actors, cis, client_for, rolled_back):
    client = client_for(actors.change_manager)
    rfc = rolled_back.rfcs.get()
    names = [e["transition"]["name"] for e in history(client, f"/api/rfcs/{rfc.pk}/history/")["results"]
             if e["kind"] == "transition"]
    assert names[:2] == ["assess", "authorize"]
    rfc_entries = history(client, f"/api/rfcs/{rfc.pk}/history/")["results"]
    assert next(e for e in rfc_entries if e["transition"] and e["transition"]["name"] == "authorize")[
        "transition"]["signature"]["signer_username"] == actors.change_manager.username

    task = rolled_back.tasks.filter(state="done").first()
    task_entries = history(client, f"/api/tasks/{task.pk}/history/")["results"]
    assert task_entries[0]["change"]["type"] == "created" and task_entries[0]["subject_type"] == "task"
    assert [e["transition"]["name"] for e in task_entries if e["kind"] == "transition"] == ["start", "complete"]

    ci = cis[0]
    ci_update(ci_id=ci.pk, by=actors.configuration_manager, version="2.5")
    ci_transition(ci_id=ci.pk, name="retire", by=actors.configuration_manager)
    ci_entries = history(client, f"/api/cis/{ci.pk}/history/")["results"]
    assert ci_entries[-1]["kind"] == "transition" and ci_entries[-1]["transition"]["to"] == "retired"
    versions = [c for e in ci_entries if e["change"] for c in e["change"]["fields"] if c["field"] == "version"]
    assert versions[0] == {"field": "version", "from": None, "to": "2.3"}
    assert versions[-1] == {"field": "version", "from": "2.3", "to": "2.5"}
    assert any(c["field"] == "depends_on" and c["to"] == [cis[1].pk]
               for e in ci_entries if e["change"] for c in e["change"]["fields"])

    problem = problem_create_from_release(release_id=rolled_back.pk, by=actors.release_manager)
    problem_update(problem_id=problem.pk, by=actors.release_manager, root_cause="Index missing.")
    problem_transition(problem_id=problem.pk, name=name_of(Problem.identify_root_cause), by=actors.release_manager)
    problem_entries = history(client, f"/api/problems/{problem.pk}/history/")["results"]
    assert [e["kind"] for e in problem_entries][-1] == "transition"
    assert {"field": "root_cause", "from": "", "to": "Index missing."} in \
        [c for e in problem_entries if e["change"] for c in e["change"]["fields"]]


# --- who sees it ---------------------------------------------------------------------------------------------------


def test_no_role_is_refused_and_an_unseen_or_missing_object_is_404(scheduled, make_user, client_for, actors):
    walker, tasks = scheduled
    release = walker.release
    paths = [f"/api/releases/{release.pk}/history/", f"/api/rfcs/{release.rfcs.get().pk}/history/",
             f"/api/tasks/{tasks['Acme'].pk}/history/", f"/api/cis/{release.scope_items.first().ci_id}/history/"]
    nobody = client_for(make_user())
    for path in paths:
        assert nobody.get(path).status_code == 403, path
        assert client_for(None).get(path).status_code == 401, path
    stakeholder = client_for(actors.requester)
    for path in paths:
        assert stakeholder.get(path).status_code == 200, path
    for prefix in ("releases", "rfcs", "tasks", "cis", "problems"):
        assert stakeholder.get(f"/api/{prefix}/999999/history/").status_code == 404


@pytest.mark.parametrize("role", ["release_manager", "change_manager", "cab_member", "delivery_manager",
                                  "build_team", "test_team", "deployment_team", "configuration_manager",
                                  "stakeholder"])
def test_every_process_role_reads_a_release_history(role, scheduled, make_user, client_for):
    walker, tasks = scheduled
    body = history(client_for(make_user(role)), f"/api/releases/{walker.release.pk}/history/")
    assert {tasks["Acme"].pk, tasks["Globex"].pk} <= {e["subject_id"] for e in body["results"]
                                                      if e["subject_type"] == "task"}


def test_a_vendor_never_learns_of_another_vendors_tasks_through_a_release_history(scheduled, vendors, client_for):
    walker, tasks = scheduled
    acme_user = vendors["Acme"][1]
    client = client_for(acme_user)
    response = client.get(f"/api/releases/{walker.release.pk}/history/", {"page_size": 200})
    assert response.status_code == 200
    entries = response.json()["results"]
    task_entries = [e for e in entries if e["subject_type"] == "task"]
    assert {e["subject_id"] for e in task_entries} == {tasks["Acme"].pk}
    # Its creation, its start, its renaming: each seen.
    assert {e["kind"] for e in task_entries} == {"change", "transition"}
    assert "Globex" not in response.content.decode()
    assert client.get(f"/api/tasks/{tasks['Globex'].pk}/history/").status_code == 404
    acme_task = history(client, f"/api/tasks/{tasks['Acme'].pk}/history/")["results"]
    assert [e["transition"]["name"] for e in acme_task if e["kind"] == "transition"] == ["start"]
    # Their own start, by their own user.
    assert next(e for e in acme_task if e["kind"] == "transition")["actor"] == acme_user.pk


def test_a_vendor_sees_no_history_of_a_release_without_its_tasks(actors, cis, vendors, client_for):
    release = reach(actors, cis, "planning").release
    client = client_for(vendors["Acme"][1])
    assert client.get(f"/api/releases/{release.pk}/history/").status_code == 404
    assert client.get(f"/api/rfcs/{release.rfcs.get().pk}/history/").status_code == 404


def test_a_reader_who_is_also_a_vendor_sees_every_task_but_other_vendors(scheduled, vendors, actors, client_for):
    walker, tasks = scheduled
    user = grant(vendors["Acme"][1], "stakeholder")
    own = s.task_create(release_id=walker.release.pk, by=actors.release_manager, title="In-house work", step=12,
                        assignee_user=actors.deployment_team)
    body = history(client_for(user), f"/api/releases/{walker.release.pk}/history/")
    seen = {e["subject_id"] for e in body["results"] if e["subject_type"] == "task"}
    assert own.pk in seen and tasks["Acme"].pk in seen
    assert seen == set(walker.release.tasks.exclude(pk=tasks["Globex"].pk).values_list("pk", flat=True))


# --- pages -----------------------------------------------------------------------------------------------------------


def test_the_history_is_paginated_like_every_list_in_a_stable_order(actors, cis, client_for):
    release = reach(actors, cis, "plan_approved").release
    client = client_for(actors.release_manager)
    path = f"/api/releases/{release.pk}/history/"
    whole = history(client, path)["results"]
    first = client.get(path, {"page_size": 4}).json()
    assert first["count"] == len(whole) and len(first["results"]) == 4 and first["previous"] is None
    second = client.get(first["next"]).json()
    assert [e["id"] for e in first["results"] + second["results"]] == [e["id"] for e in whole[:8]]
    assert len({e["id"] for e in whole}) == len(whole)
    assert client.get(path, {"page_size": 0}).status_code == 400
    assert client.get(path, {"page": 999}).status_code == 404


def test_entries_at_the_same_instant_keep_one_order(actors, cis, client_for, backdate_history):
    """Ties on time are broken by source and id: every read pages the same."""
    release = reach(actors, cis, "planning").release
    with backdate_history():
        TransitionLog.objects.filter(pk__in=logs_of(release).values("pk")).update(at=release.created_at)
    client = client_for(actors.release_manager)
    reads = [[e["id"] for e in history(client, f"/api/releases/{release.pk}/history/")["results"]]
             for _ in range(2)]
    assert reads[0] == reads[1]
    paged = []
    page = client.get(f"/api/releases/{release.pk}/history/", {"page_size": 2}).json()
    while True:
        paged += [e["id"] for e in page["results"]]
        if not page["next"]:
            break
        page = client.get(page["next"]).json()
    assert paged == reads[0]


# --- queries ---------------------------------------------------------------------------------------------------------


def _long_history(release, by, task, n):
    """``n`` rounds, each one of every kind of entry: a change of the
    release, a new test case, and a transition of the release (a signed one)
    and of its task (logged at once: the rounds do not overlap in time)."""
    from django.contrib.contenttypes.models import ContentType

    logs = []
    for i in range(n):
        release.description = f"round {i}"
        release._history_user = by
        release.save()
        case = TestCase(release=release, name=f"case {i}", created_by=by)
        case._history_user = by
        case.save()
        at = timezone.now()
        logs += [TransitionLog(content_type=ContentType.objects.get_for_model(Release), object_id=release.pk,
                               name=name_of(Release.approve_plan), source="plan_submitted", target="plan_approved",
                               by=by, at=at),
                 TransitionLog(content_type=ContentType.objects.get_for_model(Task), object_id=task.pk,
                               name=name_of(Task.start), source="open", target="in_progress", by=by, at=at)]
    TransitionLog.objects.bulk_create(logs)


def test_a_page_of_history_costs_the_same_queries_whatever_its_size(scheduled, actors, client_for):
    walker, tasks = scheduled
    _long_history(walker.release, actors.release_manager, tasks["Acme"], 120)
    for user in (actors.release_manager, tasks["Acme"].assignee_vendor.users.get()):
        client = client_for(user)
        path = f"/api/releases/{walker.release.pk}/history/"
        client.get(path, {"page_size": 10})  # warm the content types
        counts = {}
        for size in (10, 50, 200):
            # Each page from the 200th entry on: inside the rounds, where any few entries hold every kind.
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path, {"page_size": size, "page": 200 // size + 1})
            assert response.status_code == 200 and len(response.json()["results"]) == size
            counts[size] = len(ctx.captured_queries)
        assert len(set(counts.values())) == 1, counts
        # token and user, roles and vendors, the release, the count, the page's keys, its
        # transitions, their signatures, its record changes, the release's RFCs at each change
        assert counts[10] == 9, [q["sql"] for q in ctx.captured_queries]


# --- the schema --------------------------------------------------------------------------------------------------------


def test_the_schema_describes_each_history_and_its_entries(client_for, actors):
    schema = client_for(actors.release_manager).get("/api/schema/", {"format": "json"}).json()
    for prefix in ("releases", "rfcs", "tasks", "cis", "problems"):
        operation = schema["paths"][f"/api/{prefix}/{{id}}/history/"]["get"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/PaginatedHistoryEntryList"}
        assert {"403", "404"} <= set(operation["responses"])
    components = schema["components"]["schemas"]
    entry = components["HistoryEntry"]["properties"]
    assert {"id", "kind", "at", "actor", "actor_username", "subject_type", "subject_id", "transition",
            "change"} <= set(entry)
    assert {"name", "from", "to", "reason", "entry_point", "signature", "payload"} <= \
        set(components["TransitionEntry"]["properties"])
    assert {"signer", "meaning", "method", "fingerprint", "at"} <= set(components["SignatureEntry"]["properties"])
    assert {"field", "from", "to"} <= set(components["FieldChange"]["properties"])
