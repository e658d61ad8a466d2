"""`make bench` stays runnable: the seeder loads consistent data at a tiny
scale, and each floor view answers with the same rows as the app endpoint it
stands beside."""
import base64

import pytest
from django.db.models import Count, Max
from django.test import override_settings

from bench.seed import seed
from releases.models import Release, ReleasePlan, Task, TransitionLog

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def seeded():
    return seed(scale=0.01, seed_value=3, log=lambda *a: None)


def test_seeder_loads_consistent_rows(seeded):
    counts = seeded["counts"]
    assert Release.objects.count() == counts["releases"] == 1000
    assert Task.objects.count() == counts["tasks"] == 10000
    # All three types and many states, each release's last logged step
    # reaching its state, and a plan wherever the CAB approved one.
    assert set(Release.objects.values_list("release_type", flat=True)) == {"minor", "major", "emergency"}
    assert Release.objects.values("state").distinct().count() >= 10
    last = {}
    for log in TransitionLog.objects.filter(content_type__model="release").order_by("at", "id"):
        last[log.object_id] = log.target
    for rid, state, plan in Release.objects.values_list("id", "state", "approved_plan_id"):
        assert last.get(rid, "new") == state
        if plan:
            assert ReleasePlan.objects.filter(pk=plan, release_id=rid).exists()
    assert not Release.objects.filter(state="closed", tasks__state__in=["open", "in_progress"]).exists()
    # The ids the driver picks its requests from.
    assert seeded["pair_task_ids"] and Task.objects.filter(pk__in=seeded["pair_task_ids"],
                                                           state="in_progress").count() == len(seeded["pair_task_ids"])
    assert seeded["max_task_id"] == Task.objects.aggregate(m=Max("id"))["m"]
    assert Release.objects.annotate(n=Count("scope_items")).filter(n=5).count() == 1000


@override_settings(ROOT_URLCONF="bench.urls")
def test_floor_views_return_the_apps_rows(client, seeded):
    auth = {"HTTP_AUTHORIZATION": f"Token {seeded['tokens']['rm']}"}

    app = client.get("/api/releases/?state=closed&release_type=minor&page=1", **auth).json()
    floor = client.get("/floor/releases/?state=closed&release_type=minor&page=1", **auth).json()
    assert app["count"] == floor["count"] > 0
    assert [r["id"] for r in app["results"]] == [r["id"] for r in floor["results"]]
    assert [r["rfcs"] for r in app["results"]] == [r["rfcs"] for r in floor["results"]]

    rid = seeded["release_ids"][5]
    assert client.get(f"/api/releases/{rid}/", **auth).json()["state"] == \
        client.get(f"/floor/releases/{rid}/", **auth).json()["state"]
    assert client.get(f"/api/releases/{rid}/transitions/", **auth).status_code == 200
    assert client.get(f"/floor/releases/{rid}/transitions/", **auth).json()["release"]["id"] == rid

    # The task list, first page and deep down, by the cursor the driver builds.
    app = client.get("/api/tasks/", **auth).json()
    floor = client.get("/floor/tasks/", **auth).json()
    assert [t["id"] for t in app["results"]] == [t["id"] for t in floor["results"]]
    pos = seeded["max_task_id"] - 20 * 50
    cursor = base64.b64encode(f"p={pos}".encode()).decode()
    app = client.get(f"/api/tasks/?cursor={cursor}", **auth).json()
    floor = client.get(f"/floor/tasks/?before={pos}", **auth).json()
    assert [t["id"] for t in app["results"]] == [t["id"] for t in floor["results"]] == \
        list(range(pos - 1, pos - 51, -1))

    # The transition pair, app and floor: the task goes and comes back, with a
    # log row each way.
    task = seeded["pair_task_ids"][0]
    logs = TransitionLog.objects.filter(content_type__model="task", object_id=task)
    r = client.post(f"/api/tasks/{task}/transitions/block/", {"reason": "Waiting."},
                    content_type="application/json", **auth)
    assert r.status_code == 200 and r.json()["state"] == "blocked"
    assert client.post(f"/api/tasks/{task}/transitions/unblock/", {}, content_type="application/json",
                       **auth).json()["state"] == "in_progress"
    assert client.post(f"/floor/tasks/{task}/transitions/block/", {"reason": "Waiting."}, **auth).json()["state"] \
        == "blocked"
    assert client.post(f"/floor/tasks/{task}/transitions/unblock/", **auth).json()["state"] == "in_progress"
    assert list(logs.values_list("target", flat=True)) == ["blocked", "in_progress"] * 2
    assert Task.history.filter(id=task).count() == 4

    # The calendar, dashboard and release page, and their floors.
    window = f"start={seeded['now'][:19]}Z&end=2099-01-01T00:00:00Z".replace("+", "%2B")
    assert client.get(f"/calendar.ics?{window}", **auth).status_code == 200
    assert client.get(f"/floor/calendar/?{window}", **auth).json()["tasks"]
    client.cookies["sessionid"] = seeded["session"]
    assert client.get("/").status_code == 200
    assert client.get("/floor/dashboard/").json()["releases"]
    page_release = seeded["page_release_ids"][0]
    assert client.get(f"/releases/{page_release}/").status_code == 200
    assert client.get(f"/floor/release-page/{page_release}/").json()["release"]["id"] == page_release

    # The deployment gate, as a pipeline polls it with its gate token, by
    # number and by CI and version: the same release, app and floor.
    from urllib.parse import urlencode

    gate = {"HTTP_AUTHORIZATION": f"Bearer {seeded['gate']['token']}"}
    number, ci, version = seeded["gate"]["picks"][0]
    for query in (urlencode({"release": number}), urlencode({"ci": ci, "version": version})):
        app, floor = client.get(f"/api/gate/?{query}", **gate), client.get(f"/floor/gate/?{query}", **gate)
        assert app.status_code == floor.status_code == 200
        assert app.json()["release"]["id"] == floor.json()["release"]["id"]
