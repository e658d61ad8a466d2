"""Who is told about a release is one query whose cost does not multiply
with the audiences: each audience is a subquery on the user's id, so that
OR-ing "everyone on the release" (manager, assignees directly, through a team
or a vendor, requesters, stakeholders, change managers) does not join every
to-many relation to every other. Joined, PostgreSQL estimated tens of
millions of rows for a handful of users and JIT-compiled the query, which
made every cancel slow even with nothing to send."""
from __future__ import annotations

import json

import pytest
from django.db import connection

from notifications import notices
from releases.models import Task, Team, Vendor
from releases.scenario import new_release

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def release_with_everyone(actors, cis, make_user):
    release = new_release(actors, cis=cis)
    team_member, vendor_user, assignee, stakeholder, change_manager = (
        make_user("deployment_team"), make_user("vendor"), make_user("build_team"), make_user("stakeholder"),
        actors.change_manager)
    team = Team.objects.create(name="Ops")
    team.members.add(team_member)
    vendor = Vendor.objects.create(name="Acme")
    vendor.users.add(vendor_user)
    for fields in ({"assignee_team": team}, {"assignee_vendor": vendor}, {"assignee_user": assignee}):
        Task.objects.create(release=release, title="Work", step=12, **fields)
    Task.objects.create(release=release, title="Dropped", step=12, assignee_user=make_user("test_team"),
                        state="cancelled")
    expected = {actors.release_manager, actors.requester, team_member, vendor_user, assignee, stakeholder,
                change_manager}
    return release, {u.email for u in expected}


def test_everyone_on_a_release_is_found(release_with_everyone):
    release, expected = release_with_everyone
    assert set(notices.recipients(release, (notices.EVERYONE,))) == expected


def test_the_query_for_everyone_is_cheap_to_plan_and_run(release_with_everyone):
    release, _ = release_with_everyone
    assert connection.vendor == "postgresql"
    sql, params = notices.recipient_users(release, (notices.EVERYONE,)).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    # Estimated over at most every user, not every combination of their
    # tasks, teams, vendors, groups and RFCs: far below the cost at which
    # PostgreSQL compiles a query (jit_above_cost, 100000 by default).
    assert plan[0]["Plan"]["Total Cost"] < 20000, plan[0]["Plan"]["Total Cost"]
    assert "JIT" not in plan[0]
