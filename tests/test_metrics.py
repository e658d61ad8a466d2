"""Process metrics on a hand-built set of releases whose every timestamp is
known, so each figure can be worked out on paper (the arithmetic is in the
comments) and checked exactly.

The timelines are written as transition-log rows with exact times, as the
transition service writes them, and the releases' stays are then written
from the log as an installation's are (``reports.stays.rebuild``); nothing
here goes through the services, because the services stamp the current time.
"""
from __future__ import annotations

import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changes.models import ChangeRequest
from cmdb.models import ConfigurationItem
from releases.choices import STATE_STEP
from reports.metrics import (
    MEASURED_STATES, STATE_LABELS, MetricsFilterForm, Sample, compute, csv_table, hours, percent,
    week_start,
)
from releases.models import (
    Deployment, Release, ReleasePlan, ReleaseScopeItem, Task, Team, TransitionLog, Vendor,
)
from releases.choices import STEP_TARGETS
from reports.stays import rebuild as rebuild_stays

UTC = dt_timezone.utc
B = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday; the period is 2 to 29 March 2026 (four weeks)
H = timedelta(hours=1)
D = timedelta(days=1)
PERIOD = {"from": "2026-03-02", "to": "2026-03-29"}


@dataclass
class World:
    user: object
    releases: dict = field(default_factory=dict)
    teams: dict = field(default_factory=dict)
    vendor: object = None
    cis: dict = field(default_factory=dict)


def rfc(world, created_at):
    r = ChangeRequest.objects.create(title="change", description="d", requester=world.user)
    ChangeRequest.objects.filter(pk=r.pk).update(created_at=created_at)  # auto_now_add cannot be set
    return r


def release(world, key, kind, *, rfcs_at=(), state="new"):
    r = Release.objects.create(title=f"Release {key}", release_type=kind, release_manager=world.user, state=state)
    r.rfcs.set([rfc(world, at) for at in rfcs_at])
    world.releases[key] = r
    return r


def walk(rel, start, steps):
    """steps: (transition name, target state, time since the previous step)."""
    ct = ContentType.objects.get_for_model(Release)
    at, source = start, "new"
    for i, (name, target, gap) in enumerate(steps):
        at = at + gap if i else start
        TransitionLog.objects.create(content_type=ct, object_id=rel.pk, name=name, source=source, target=target, at=at)
        source = target
    rebuild_stays([rel.pk])
    return at


def plan(world, rel, window_start, window_end):
    ReleasePlan.objects.create(release=rel, version=1, created_by=world.user, created_in_state="planning",
                               deployment_start=window_start - D, deployment_end=window_end - D)
    # the revised plan (step 8) is the one the deployment runs under
    ReleasePlan.objects.create(release=rel, version=2, created_by=world.user, created_in_state="tests_passed",
                               deployment_start=window_start, deployment_end=window_end)


def deployment(world, rel, started, completed=None):
    Deployment.objects.create(release=rel, created_by=world.user, started_at=started, completed_at=completed)


def task(world, rel, planned_end, *, team=None, vendor=None, done_at=None):
    t = Task.objects.create(release=rel, title="t", planned_end=planned_end, assignee_team=team, assignee_vendor=vendor,
                            state="done" if done_at else "open")
    if done_at:
        ct = ContentType.objects.get_for_model(Task)
        TransitionLog.objects.create(content_type=ct, object_id=t.pk, name="complete", source="in_progress",
                                     target="done", at=done_at)
    return t


def build_world(user) -> World:
    w = World(user=user)
    w.teams = {n: Team.objects.create(name=n) for n in ("Build", "Deploy")}
    w.vendor = Vendor.objects.create(name="Acme")
    w.cis = {n: ConfigurationItem.objects.create(name=n, version="1.0") for n in ("orders-api", "payments-api")}

    # A, minor: two RFCs; deployed on time at B+30h (week of 2 March).
    a = release(w, "A", "minor", rfcs_at=(B - 48 * H, B - 24 * H))
    ReleaseScopeItem.objects.create(release=a, ci=w.cis["orders-api"], target_version="1.1")
    walk(a, B, [("start_planning", "planning", 0), ("submit_plan", "plan_submitted", H),
                ("approve_plan", "plan_approved", 4 * H), ("approve_go", "go", 20 * H),
                ("start_deployment", "deploying", 2 * H), ("complete_deployment", "deployed", 3 * H)])
    plan(w, a, B + 27 * H, B + 31 * H)
    deployment(w, a, B + 28 * H, B + 30 * H)

    # B, minor: rejected once by the CAB, a No-Go, deployed late, then rolled back in 30 minutes.
    b = release(w, "B", "minor", rfcs_at=(B - 24 * H,))
    s = B + 7 * D
    walk(b, s, [("start_planning", "planning", 0), ("submit_plan", "plan_submitted", 2 * H),
                ("reject_plan", "planning", 6 * H), ("submit_plan", "plan_submitted", H),
                ("approve_plan", "plan_approved", 8 * H), ("no_go", "plans_updated", 2 * H),
                ("approve_go", "go", 3 * H), ("start_deployment", "deploying", H),
                ("complete_deployment", "deployed", 2 * H),  # s + 25h = B + 193h
                ("rollback", "rolling_back", 5 * H), ("complete_rollback", "rolled_back", H / 2)])
    plan(w, b, s + 20 * H, s + 24 * H)
    deployment(w, b, s + 23 * H, s + 25 * H)  # completed an hour after the window closed

    # C, emergency: rolled back while still deploying (a failed deployment that never reached
    # "deployed"), restored in 90 minutes.
    c = release(w, "C", "emergency", rfcs_at=(B,))
    s = B + 14 * D
    walk(c, s, [("start_planning", "planning", 0), ("submit_plan", "plan_submitted", H),
                ("approve_plan", "plan_approved", H), ("approve_go", "go", 3 * H),
                ("start_deployment", "deploying", H), ("rollback", "rolling_back", 2 * H),
                ("complete_rollback", "rolled_back", 90 * H / 60)])
    plan(w, c, s, s + 10 * H)
    deployment(w, c, s + 6 * H)

    # D, major, vendor and Deploy team work, payments-api in scope: deployed B+294h (Saturday 14 March).
    d = release(w, "D", "major", rfcs_at=(B - 10 * D,))
    ReleaseScopeItem.objects.create(release=d, ci=w.cis["payments-api"], target_version="1.1")
    s = B + 8 * D
    walk(d, s, [("start_planning", "planning", 0), ("submit_plan", "plan_submitted", 24 * H),
                ("approve_plan", "plan_approved", 48 * H), ("approve_go", "go", 24 * H),
                ("start_deployment", "deploying", 2 * H), ("complete_deployment", "deployed", 4 * H)])
    plan(w, d, s + 90 * H, s + 110 * H)
    deployment(w, d, s + 98 * H, s + 102 * H)

    # E, minor, entirely before the period: counts for nothing.
    e = release(w, "E", "minor", rfcs_at=(B - 40 * D,))
    walk(e, B - 30 * D, [("start_planning", "planning", 0), ("submit_plan", "plan_submitted", H),
                         ("approve_plan", "plan_approved", H), ("approve_go", "go", H),
                         ("start_deployment", "deploying", H), ("complete_deployment", "deployed", H)])
    plan(w, e, B - 31 * D, B - 29 * D)
    deployment(w, e, B - 30 * D + 4 * H, B - 30 * D + 5 * H)

    # F, minor: planning inside the period (24h), its CAB decision after it.
    f = release(w, "F", "minor", rfcs_at=(B,))
    walk(f, B + 18 * D, [("start_planning", "planning", 0), ("submit_plan", "plan_submitted", 24 * H),
                         ("approve_plan", "plan_approved", 13 * D)])

    # G: cancelled; its forgotten task is not overdue work.
    g = release(w, "G", "minor", state="cancelled")

    build, deploy = w.teams["Build"], w.teams["Deploy"]
    end = datetime(2026, 3, 30, tzinfo=UTC)
    task(w, a, B + 8 * D, team=build)                                         # open, overdue
    task(w, a, end - 5 * D, team=build, done_at=end + 3 * D)                  # done after the period: overdue at its end
    task(w, d, B + 10 * D, vendor=w.vendor, done_at=B + 13 * D)               # completed late
    task(w, d, B + 18 * D, team=deploy, done_at=B + 16 * D)                   # completed on time
    task(w, b, end + 6 * D)                                                    # not due yet
    task(w, e, B - 25 * D, done_at=B - 24 * D)                                 # finished before the period
    task(w, g, B + 3 * D)                                                      # cancelled release
    return w


@pytest.fixture
def world(make_user):
    return build_world(make_user("release_manager"))


def figures(**params):
    form = MetricsFilterForm({**PERIOD, **params})
    assert form.is_valid(), form.errors
    return compute(form.filters())


@pytest.mark.django_db
def test_every_metric_on_the_hand_built_releases(world):
    m = figures()
    assert m["period"]["days"] == 28

    # A (2 March), B (9 March) and D (14 March) reached "deployed"; E before, C never.
    freq = m["deployment_frequency"]
    assert freq["deployed"] == 3
    assert [(w["week"], w["deployed"]) for w in freq["weeks"]] == [
        (date(2026, 3, 2), 1), (date(2026, 3, 9), 2), (date(2026, 3, 16), 0), (date(2026, 3, 23), 0)]
    assert freq["per_week"] == 0.75  # 3 in 4 weeks

    # Deployments that ended in the period: A, B, D deployed and C rolled back while deploying; B and C failed.
    assert m["change_failure_rate"] == {"deployments": 4, "failed": 2, "rate_percent": 50.0}

    # Restores: B 0.5h, C 1.5h -> median 1.0, p90 0.5 + 0.9 x 1.0 = 1.4.
    assert m["time_to_restore"] == {"count": 2, "median_hours": 1.0, "p90_hours": 1.4}

    # Lead times per RFC: A 78h and 54h, B 217h, D 534h -> median (78 + 217) / 2, p90 217 + 0.7 x 317.
    assert m["lead_time"] == {"count": 4, "median_hours": 147.5, "p90_hours": 438.9}

    # CAB: A 4h, B 6h (rejected) and 8h, C 1h, D 48h; F decided after the period.
    # [1, 4, 6, 8, 48] -> median 6, p90 8 + 0.6 x 40 = 32.
    assert m["cab_cycle_time"] == {"count": 5, "median_hours": 6.0, "p90_hours": 32.0, "approved": 4,
                                   "rejected": 1}

    # Go/No-Go: A, B, C, D went; B had a No-Go first.
    assert m["go_no_go"] == {"go": 4, "no_go": 1, "go_percent": 80.0}

    # A and D deployed inside their (revised) window; B finished after it; C never completed.
    assert m["on_time"] == {"deployments": 3, "on_time": 2, "outside_window": 1, "without_window": 0,
                            "rate_percent": 66.7}

    # Overdue at the period's end: A's open task, A's task done after the period. Completed in it: D's two,
    # one late. B's task is not due, E's finished long ago, G was cancelled.
    assert m["tasks"] == {"overdue": 2, "completed": 2, "completed_late": 1}


@pytest.mark.django_db
def test_time_in_each_step_against_its_target(world):
    rows = {(r["release_type"], r["state"]): r for r in figures()["time_in_step"]}
    # minor planning: A 1h, B 2h and 1h, F 24h -> median 1.5, p90 2 + 0.7 x 22 = 17.4; target 5 days.
    assert rows[("minor", "planning")] == {
        "release_type": "minor", "state": "planning", "label": "Planning", "step": 2, "count": 4,
        "median_hours": 1.5, "p90_hours": 17.4, "target_hours": 120.0, "over_target": 0, "over_target_percent": 0.0}
    # minor plan_submitted: A 4h, B 6h and 8h; F's stay has not ended in the period.
    assert (rows[("minor", "plan_submitted")]["count"], rows[("minor", "plan_submitted")]["median_hours"]) == (3, 6.0)
    # emergency plan_approved: C 3h against a 2h target.
    em = rows[("emergency", "plan_approved")]
    assert (em["count"], em["median_hours"], em["target_hours"], em["over_target"], em["over_target_percent"]) == (
        1, 3.0, 2.0, 1, 100.0)
    # emergency go: C 1h, exactly the target: not over.
    assert rows[("emergency", "go")]["over_target"] == 0
    assert rows[("major", "plan_submitted")]["median_hours"] == 48.0
    # B stood 5h in deployed, C 1.5h rolling back; rolled_back and deployed stays still open are not counted.
    assert rows[("minor", "deployed")]["median_hours"] == 5.0
    assert rows[("emergency", "rolling_back")]["median_hours"] == 1.5
    assert ("minor", "rolled_back") not in rows and ("major", "deployed") not in rows
    # in the order of the process
    minor = [r["state"] for r in figures()["time_in_step"] if r["release_type"] == "minor"]
    assert minor == ["planning", "plan_submitted", "plan_approved", "plans_updated", "go", "deploying", "deployed",
                     "rolling_back"]


@pytest.mark.django_db
def test_filters_narrow_the_releases(world):
    minor = figures(type="minor")
    assert minor["deployment_frequency"]["deployed"] == 2  # A, B
    assert minor["change_failure_rate"] == {"deployments": 2, "failed": 1, "rate_percent": 50.0}
    assert minor["go_no_go"]["go"] == 2 and minor["go_no_go"]["no_go"] == 1
    assert minor["time_to_restore"]["count"] == 1

    build = figures(team=str(world.teams["Build"].pk))  # A only; its tasks only
    assert build["deployment_frequency"]["deployed"] == 1
    assert build["lead_time"] == {"count": 2, "median_hours": 66.0, "p90_hours": 75.6}
    assert build["tasks"] == {"overdue": 2, "completed": 0, "completed_late": 0}

    deploy = figures(team=str(world.teams["Deploy"].pk))  # D, and only the Deploy team's task
    assert deploy["tasks"] == {"overdue": 0, "completed": 1, "completed_late": 0}

    acme = figures(vendor=str(world.vendor.pk))  # D; the vendor's task was late
    assert acme["deployment_frequency"]["deployed"] == 1
    assert acme["tasks"] == {"overdue": 0, "completed": 1, "completed_late": 1}
    assert acme["on_time"]["rate_percent"] == 100.0

    payments = figures(ci=str(world.cis["payments-api"].pk))  # D
    assert payments["cab_cycle_time"]["median_hours"] == 48.0
    orders = figures(ci=str(world.cis["orders-api"].pk))  # A
    assert orders["cab_cycle_time"]["median_hours"] == 4.0

    week = figures(**{"from": "2026-03-09", "to": "2026-03-15"})  # B and D deployed that week
    assert week["deployment_frequency"]["deployed"] == 2
    assert week["deployment_frequency"]["weeks"] == [{"week": date(2026, 3, 9), "deployed": 2}]
    assert week["change_failure_rate"]["rate_percent"] == 50.0
    # an ISO date and time works too, and "to" is then exclusive
    narrow = figures(**{"from": "2026-03-09T00:00:00Z", "to": "2026-03-14T00:00:00Z"})
    assert narrow["deployment_frequency"]["deployed"] == 1  # B; D on the 14th is outside


@pytest.mark.django_db
def test_default_period_is_the_last_90_days(world):
    now = datetime(2026, 5, 5, 12, tzinfo=UTC)  # 90 days back: 5 February, after E
    form = MetricsFilterForm({}, now=now)
    assert form.is_valid(), form.errors
    f = form.filters()
    assert f.end == datetime(2026, 5, 6, tzinfo=UTC)
    assert f.end - f.start == timedelta(days=90)
    assert compute(f)["deployment_frequency"]["deployed"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize("params, field", [
    ({"from": "2026-03-10", "to": "2026-03-01"}, "from"),
    ({"from": "2020-01-01", "to": "2026-03-01"}, "from"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-02-30"}, "to"),
    ({"to": "9999-12-31"}, "to"),
    ({"to": "9999-12-30"}, "to"),
    ({"to": "0001-01-01"}, "to"),
    ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-05"}, "from"),
    ({"from": "2026-03-01T00:00:00+23:00"}, "from"),
    ({"type": "hotfix"}, "type"),
    ({"team": "abc"}, "team"),
    ({"team": "999999"}, "team"),
    ({"vendor": "99999999999999999999999"}, "vendor"),
    ({"ci": "-1"}, "ci"),
])
def test_invalid_filters_are_refused_with_the_reason(params, field):
    form = MetricsFilterForm(params)
    assert not form.is_valid()
    assert field in form.errors and form.errors[field][0]


@pytest.mark.django_db
def test_an_empty_period_has_no_figures_rather_than_zero_rates():
    m = figures()
    assert m["change_failure_rate"] == {"deployments": 0, "failed": 0, "rate_percent": None}
    assert m["lead_time"] == {"count": 0, "median_hours": None, "p90_hours": None}
    assert m["time_in_step"] == []


@pytest.mark.django_db
def test_csv_tables(world):
    m = figures()
    assert csv_table("deployment_frequency", m) == (["week_starting", "deployed"], [
        ["2026-03-02", 1], ["2026-03-09", 2], ["2026-03-16", 0], ["2026-03-23", 0]])
    header, rows = csv_table("change_failure_rate", m)
    assert header == ["figure", "value"] and ["rate_percent", 50.0] in rows
    header, rows = csv_table("time_in_step", m)
    assert header[:3] == ["release_type", "state", "step"] and ["minor", "planning", 2, 4, 1.5, 17.4, 120.0, 0, 0.0] in rows


def _more_releases(world, n):
    """n more releases like A (deployed, with tasks, an RFC and a plan) in the period."""
    for i in range(n):
        r = release(world, f"X{i}", "minor", rfcs_at=(B,))
        ReleaseScopeItem.objects.create(release=r, ci=world.cis["orders-api"], target_version="2")
        walk(r, B + i * H, [("start_planning", "planning", 0), ("submit_plan", "plan_submitted", H),
                            ("approve_plan", "plan_approved", H), ("approve_go", "go", H),
                            ("start_deployment", "deploying", H), ("complete_deployment", "deployed", H),
                            ("rollback", "rolling_back", H), ("complete_rollback", "rolled_back", H)])
        plan(world, r, B, B + 20 * D)
        deployment(world, r, B + i * H + 4 * H, B + i * H + 5 * H)
        task(world, r, B + D, team=world.teams["Build"])
        task(world, r, B + D, team=world.teams["Build"], done_at=B + 2 * D)


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{}, {"type": "minor", "ci": "orders-api", "team": "Build"}])
def test_the_number_of_queries_does_not_grow_with_the_releases(world, params):
    def count():
        query = dict(params)
        if "ci" in query:
            query["ci"] = str(world.cis[query["ci"]].pk)
            query["team"] = str(world.teams[query["team"]].pk)
        form = MetricsFilterForm({**PERIOD, **query})
        with CaptureQueriesContext(connection) as ctx:
            assert form.is_valid()
            m = compute(form.filters())
        return len(ctx.captured_queries), m

    _more_releases(world, 2)
    small, m_small = count()
    _more_releases(world, 30)  # X2.. would clash with X0, X1: names only, keys do not matter
    large, m_large = count()
    assert m_large["deployment_frequency"]["deployed"] > m_small["deployment_frequency"]["deployed"]
    assert small == large
    assert large <= 12


# --- the database's figures against a walk of the timelines ------------------------------
#
# compute() has the database aggregate the log (pairings, stays, ranks of the
# sorted durations) rather than fetch it. The oracle below is the definition
# walked in Python, row by row, as the figures were computed before: on
# random, untidy timelines (ties in time, logs written out of order, decisions
# without a submission, rollbacks from either state, RFCs raised after the
# deployment, tasks finished twice or after the period) both must agree to
# the last digit, whatever the database.


def test_a_sample_known_by_a_few_ranks_gives_the_statistics_module_figures():
    rng = random.Random(7)
    for n in list(range(1, 40)) + [97, 100, 101, 1000]:
        for values in ([rng.uniform(0, 500) for _ in range(n)], [float(rng.randint(0, 3)) for _ in range(n)],
                       [rng.randint(-10**9, 10**12) / 3.6e9 for _ in range(n)]):
            ordered = sorted(values)
            s = Sample(count=n, by_rank={rank: value for rank, value in enumerate(ordered, start=1)})
            assert s.median() == statistics.median(values)
            assert s.p90() == (values[0] if n == 1 else statistics.quantiles(values, n=10, method="inclusive")[-1])


def _reference(filters):
    """The figures by walking each active release's log in Python."""

    def spread(values):
        return {"count": len(values), "median_hours": None if not values else round(statistics.median(values), 2),
                "p90_hours": None if not values else round(
                    values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[-1], 2)}

    start, end = filters.start, filters.end

    def inside(moment):
        return moment is not None and start <= moment < end

    release_logs = TransitionLog.objects.filter(content_type=ContentType.objects.get_for_model(Release))
    active = filters.releases().filter(pk__in=release_logs.filter(at__gte=start, at__lt=end).values("object_id"))
    kinds = dict(active.values_list("pk", "release_type"))
    timelines = defaultdict(list)
    for pk, name, source, target, at in release_logs.filter(object_id__in=list(kinds), at__lt=end).order_by(
            "object_id", "at", "id").values_list("object_id", "name", "source", "target", "at"):
        timelines[pk].append((name, source, target, at))

    weeks, monday = {}, week_start(start)
    while datetime.combine(monday, datetime.min.time(), tzinfo=UTC) < end:
        weeks[monday] = 0
        monday += timedelta(days=7)
    deployed_at, cohort, failed = {}, 0, 0
    restores, cab, outcomes, go = [], [], {"approved": 0, "rejected": 0}, {"go": 0, "no_go": 0}
    stays = defaultdict(list)
    for pk, logs in timelines.items():
        first_deployed = next((at for _, _, target, at in logs if target == "deployed"), None)
        rollbacks = [(source, at) for name, source, _, at in logs if name == "rollback"]
        if inside(first_deployed):
            deployed_at[pk] = first_deployed
            weeks[week_start(first_deployed)] += 1
        ended = first_deployed or next((at for source, at in rollbacks if source == "deploying"), None)
        if inside(ended):
            cohort += 1
            failed += bool(rollbacks)
        rollback_started = submitted = None
        for i, (name, source, target, at) in enumerate(logs):
            if name == "rollback":
                rollback_started = at
            elif target == "rolled_back" and rollback_started is not None:
                if inside(at):
                    restores.append(hours(at - rollback_started))
                rollback_started = None
            if name == "submit_plan":
                submitted = at
            elif name in ("approve_plan", "reject_plan") and submitted is not None:
                if inside(at):
                    cab.append(hours(at - submitted))
                    outcomes["approved" if name == "approve_plan" else "rejected"] += 1
                submitted = None
            if inside(at) and name in ("approve_go", "no_go"):
                go["go" if name == "approve_go" else "no_go"] += 1
            if i + 1 < len(logs) and inside(logs[i + 1][3]) and target in STEP_TARGETS[kinds[pk]]:
                stays[(kinds[pk], target)].append(hours(logs[i + 1][3] - at))

    lead = [hours(deployed_at[pk] - created) for pk, created in Release.rfcs.through.objects.filter(
        release_id__in=list(deployed_at)).values_list("release_id", "changerequest__created_at")]

    windows = {}
    for pk, ws, we in ReleasePlan.objects.order_by("release_id", "version").values_list(
            "release_id", "deployment_start", "deployment_end"):
        windows[pk] = (ws, we)
    on_time = late = no_window = 0
    for pk, started, completed in Deployment.objects.filter(
            release__in=filters.releases(), completed_at__gte=start, completed_at__lt=end).values_list(
            "release_id", "started_at", "completed_at"):
        ws, we = windows.get(pk, (None, None))
        if ws is None or we is None:
            no_window += 1
        elif ws <= started and completed <= we:
            on_time += 1
        else:
            late += 1

    tasks = Task.objects.filter(release__in=filters.releases(), planned_end__lt=end).exclude(release__state="cancelled")
    if filters.team is not None:
        tasks = tasks.filter(assignee_team=filters.team)
    if filters.vendor is not None:
        tasks = tasks.filter(assignee_vendor=filters.vendor)
    finished = {}
    for pk, target, at in TransitionLog.objects.filter(
            content_type=ContentType.objects.get_for_model(Task), target__in=("done", "cancelled")).order_by(
            "at").values_list("object_id", "target", "at"):
        finished.setdefault(pk, (target, at))
    overdue = completed = completed_late = 0
    for pk, planned_end in tasks.values_list("pk", "planned_end"):
        target, at = finished.get(pk, (None, None))
        if at is not None and at < start:
            continue
        if at is None or at >= end:
            overdue += 1
        elif target == "done":
            completed += 1
            completed_late += at > planned_end

    period_weeks = (end - start) / timedelta(days=7)
    deployed = len(deployed_at)
    return {
        "period": {"from": start, "to": end, "days": round((end - start) / timedelta(days=1), 2)},
        "filters": filters.as_dict(),
        "deployment_frequency": {"deployed": deployed, "per_week": round(deployed / period_weeks, 2),
                                 "weeks": [{"week": w, "deployed": n} for w, n in sorted(weeks.items())]},
        "change_failure_rate": {"deployments": cohort, "failed": failed, "rate_percent": percent(failed, cohort)},
        "time_to_restore": spread(restores),
        "lead_time": spread(lead),
        "cab_cycle_time": {**spread(cab), **outcomes},
        "time_in_step": [
            {"release_type": kind, "state": state, "label": STATE_LABELS[state], "step": STATE_STEP[state],
             **spread(stays[(kind, state)]), "target_hours": round(hours(STEP_TARGETS[kind][state]), 2),
             "over_target": sum(v > hours(STEP_TARGETS[kind][state]) for v in stays[(kind, state)]),
             "over_target_percent": percent(sum(v > hours(STEP_TARGETS[kind][state]) for v in stays[(kind, state)]),
                                            len(stays[(kind, state)]))}
            for kind in ("major", "minor", "emergency") for state in MEASURED_STATES if stays.get((kind, state))],
        "on_time": {"deployments": on_time + late, "on_time": on_time, "outside_window": late,
                    "without_window": no_window, "rate_percent": percent(on_time, on_time + late)},
        "go_no_go": {**go, "go_percent": percent(go["go"], go["go"] + go["no_go"])},
        "tasks": {"overdue": overdue, "completed": completed, "completed_late": completed_late},
    }


TRANSITIONS = [("start_planning", "planning"), ("submit_plan", "plan_submitted"), ("approve_plan", "plan_approved"),
               ("reject_plan", "planning"), ("schedule", "scheduled"), ("approve_go", "go"),
               ("no_go", "plans_updated"), ("start_deployment", "deploying"), ("complete_deployment", "deployed"),
               ("rollback", "rolling_back"), ("complete_rollback", "rolled_back"), ("verify_deployment", "verified"),
               ("cancel", "cancelled")]


def _untidy_world(user, seed):
    rng = random.Random(seed)
    teams = [Team.objects.create(name=f"Team {i}") for i in range(2)]
    vendor = Vendor.objects.create(name="Vendor")
    cis = [ConfigurationItem.objects.create(name=f"ci-{i}", version="1") for i in range(2)]
    release_ct, task_ct = ContentType.objects.get_for_model(Release), ContentType.objects.get_for_model(Task)

    def gap():
        return rng.choice([timedelta(0), timedelta(seconds=rng.randint(1, 59)), timedelta(minutes=rng.randint(1, 59)),
                           timedelta(minutes=rng.randint(60, 600)), timedelta(hours=rng.uniform(1, 300))])

    for i in range(45):
        rel = Release.objects.create(title=f"R{i}", release_type=rng.choice(["major", "minor", "emergency"]),
                                     release_manager=user, state=rng.choice(["new", "deployed", "cancelled"]))
        at = B + timedelta(hours=rng.uniform(-40 * 24, 30 * 24))
        for _ in range(rng.randint(0, 2)):
            created = at + timedelta(hours=rng.uniform(-300, 300))  # sometimes raised after the deployment
            rel.rfcs.add(rfc(World(user=user), created))
        if rng.random() < 0.5:
            ReleaseScopeItem.objects.create(release=rel, ci=rng.choice(cis), target_version="2")
        logs, source = [], "new"
        for _ in range(rng.randint(0, 16)):
            name, target = rng.choice(TRANSITIONS)
            at += gap()
            logs.append(TransitionLog(content_type=release_ct, object_id=rel.pk, name=name, source=source,
                                      target=target, at=at))
            source = target
        rng.shuffle(logs)  # ids need not follow time
        TransitionLog.objects.bulk_create(logs)
        rebuild_stays([rel.pk])
        for version in range(rng.randint(0, 2)):
            window = at + timedelta(hours=rng.uniform(-100, 50))
            ReleasePlan.objects.create(release=rel, version=version + 1, created_by=user, created_in_state="planning",
                                       deployment_start=window if rng.random() < 0.9 else None,
                                       deployment_end=window + timedelta(hours=rng.uniform(1, 30)))
        for _ in range(rng.randint(0, 2)):
            started = at + timedelta(hours=rng.uniform(-60, 10))
            Deployment.objects.create(release=rel, created_by=user, started_at=started,
                                      completed_at=started + timedelta(hours=rng.uniform(0, 8))
                                      if rng.random() < 0.8 else None)
        for _ in range(rng.randint(0, 3)):
            t = Task.objects.create(release=rel, title="t", planned_end=at + timedelta(hours=rng.uniform(-500, 200)),
                                    assignee_team=rng.choice([None, *teams]),
                                    assignee_vendor=vendor if rng.random() < 0.3 else None)
            finished = at + timedelta(hours=rng.uniform(-600, 600))
            for k in range(rng.choice([0, 1, 1, 2])):
                log = TransitionLog.objects.create(content_type=task_ct, object_id=t.pk, name="x",
                                                   source="in_progress", target=rng.choice(["done", "done", "cancelled"]),
                                                   at=finished + timedelta(hours=k * rng.uniform(1, 100)))
                if not k:  # a finished task stays finished: its state is that of its first finishing log
                    Task.objects.filter(pk=t.pk).update(state=log.target)
    return teams, vendor, cis


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2])
def test_the_figures_are_those_of_a_walk_of_the_timelines(make_user, seed):
    teams, vendor, cis = _untidy_world(make_user("release_manager"), seed)
    for params in [PERIOD, {"from": "2026-01-15", "to": "2026-04-30"}, {"from": "2025-12-01", "to": "2026-06-30"},
                   {"from": "2026-03-05T13:30:00Z", "to": "2026-03-19T08:00:00Z"},
                   {**PERIOD, "type": "minor"}, {"from": "2026-01-15", "to": "2026-04-30", "team": str(teams[0].pk)},
                   {"from": "2026-01-15", "to": "2026-04-30", "vendor": str(vendor.pk)},
                   {"from": "2026-01-15", "to": "2026-04-30", "ci": str(cis[1].pk), "type": "major"}]:
        form = MetricsFilterForm(params)
        assert form.is_valid(), form.errors
        assert compute(form.filters()) == _reference(form.filters()), params
