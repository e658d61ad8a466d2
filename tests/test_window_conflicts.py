"""Which freeze windows and other releases collide with a deployment window
(``releases.conflicts.window_conflicts``), asked by the scheduling and
deployment guards and by every poll of the deployment gate."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from releases.conflicts import window_conflicts
from releasemgmt.workflow import name_of
from releases.models import FreezeWindow, Release, ReleasePlan
from releases.scenario import Walker, new_release

pytestmark = pytest.mark.django_db


def _approved(actors, cis, title):
    return _walker(actors, cis, title).release


def _walker(actors, cis, title):
    walker = Walker(new_release(actors, title=title, cis=cis), actors)
    walker.to("plan_approved")
    return walker


def _window(days_from=0, days_to=1):
    now = timezone.now()
    return now + timedelta(days=days_from), now + timedelta(days=days_to)


def test_releases_on_either_end_of_a_dependency_collide_and_the_shared_cis_are_named(actors, cis):
    api, db = cis  # orders-api depends on orders-db
    on_api = _approved(actors, [api], "On the API")
    on_db = _approved(actors, [db], "On the database")
    start, end = on_db.current_plan.deployment_start, on_db.current_plan.deployment_end

    freezes, others = window_conflicts(new_release(actors, cis=[db]), start, end)
    assert freezes == []
    assert [(o.pk, names) for o, names in others] == [(on_db.pk, ["orders-db"]), (on_api.pk, ["orders-api"])]

    _, others = window_conflicts(new_release(actors, cis=[api]), start, end)
    assert {o.pk: names for o, names in others} == {on_api.pk: ["orders-api"], on_db.pk: ["orders-db"]}


def test_the_newest_plan_s_deployment_window_counts_else_the_planned_window(actors, cis):
    other = _approved(actors, [cis[1]], "Other")
    mine = new_release(actors, cis=[cis[1]])
    # A newer plan moves the other release's deployment past its planned window.
    ReleasePlan.objects.create(release=other, version=99, created_by=actors.release_manager,
                               created_in_state=other.state, deployment_start=timezone.now() + timedelta(days=20),
                               deployment_end=timezone.now() + timedelta(days=21))
    assert window_conflicts(mine, *_window(0, 1))[1] == []
    assert [o.pk for o, _ in window_conflicts(mine, *_window(20, 20.5))[1]] == [other.pk]
    # A plan without a deployment window leaves the planned window in force.
    ReleasePlan.objects.create(release=other, version=100, created_by=actors.release_manager,
                               created_in_state=other.state)
    assert [o.pk for o, _ in window_conflicts(mine, *_window(0, 1))[1]] == [other.pk]
    assert window_conflicts(mine, *_window(20, 20.5))[1] == []


def test_releases_not_yet_approved_or_finished_do_not_collide(actors, cis):
    new_release(actors, title="Still planning", cis=[cis[1]])
    _walker(actors, [cis[1]], "Given up").go(name_of(Release.cancel), actors.release_manager, reason="Not needed.")
    mine = new_release(actors, cis=[cis[1]])
    assert window_conflicts(mine, *_window(-1, 14))[1] == []


def test_a_freeze_names_the_cis_of_the_scope_and_their_dependants_it_covers(actors, cis):
    api, db = cis
    start, end = _window(0, 1)
    on_db = FreezeWindow.objects.create(name="Database freeze", start=start, end=end)
    on_db.cis.add(db)
    on_api = FreezeWindow.objects.create(name="API freeze", start=start, end=end)
    on_api.cis.add(api)
    everything = FreezeWindow.objects.create(name="Black Friday", start=start, end=end)

    freezes, _ = window_conflicts(new_release(actors, cis=[db]), start, end)
    # The API depends on the database: a deployment of the database touches it.
    assert {f.name: names for f, names in freezes} == {
        "Database freeze": ["orders-db"], "API freeze": ["orders-api"], "Black Friday": []}
    # The database does not depend on the API: freezing the database does not
    # stop a deployment of the API alone.
    freezes, _ = window_conflicts(new_release(actors, cis=[api]), start, end)
    assert {f.name for f, _ in freezes} == {"API freeze", everything.name}


def test_the_number_of_queries_does_not_grow_with_the_releases_on_the_same_cis(actors, cis):
    mine = new_release(actors, cis=[cis[1]])
    start, end = _window(-1, 14)

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            window_conflicts(mine, start, end)
        return len(ctx.captured_queries)

    _approved(actors, [cis[1]], "First")
    one = queries()
    for n in range(3):
        _approved(actors, [cis[0], cis[1]], f"More {n}")
    assert len(window_conflicts(mine, start, end)[1]) == 4
    assert queries() == one
