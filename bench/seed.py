"""Seed a release-management database at realistic scale, fast and reproducibly.

    python -m bench.seed --scale 1.0 --seed 7 --out state.json

Scale 1.0 is a tool with five years of history: 100,000 releases across all
states and types, 100,000 RFCs, 1,000,000 tasks, 50,000 CIs with 50,000
dependencies, 500,000 release-CI links, the step records the pages and guards
read (plans, CAB votes, Go decisions, deployments), the transition log, the
releases' stays the reports read (written from the log, as the migration
writes an installation's) and the creation history rows. Every row comes from ``random.Random(seed)``, so two
runs with the same seed load the same data. Bulk tables go in with
PostgreSQL's COPY; the handful of users, teams and vendors go through the ORM.

Dates are spread evenly over the five years up to now (ids rise with time, as
they do in a live system). A release's state follows from its window: long
past ones are closed, cancelled or rolled back; the last weeks' are deploying,
in review or rolling back; future ones are still being planned and built.

Writes a JSON file the load driver reads: tokens, a session key, and the ids
it picks its requests from.
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone as dt_tz

if __name__ == "__main__":  # run as a script: Django first
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()

from django.db import connection, transaction  # noqa: E402

from releases.choices import STATE_ORDER  # noqa: E402

FULL = {"releases": 100_000, "rfcs": 100_000, "tasks": 1_000_000, "cis": 50_000, "links": 500_000}
YEARS = 5
N_RM = 20  # release managers
PASSWORD = "bench-pass-2026"


@functools.cache
def _step(source: str, target: str) -> str:
    """The name of the transition declared from ``source`` to ``target``."""
    from releasemgmt.workflow import specs
    from releases.models import Release

    return next(name for name, spec in specs(Release).items() if source in spec.sources and spec.target == target)


IDX = {s: i for i, s in enumerate(STATE_ORDER)}
# What the task rows of a release look like, by how far the release is.
EARLY = ("new", "planning", "plan_submitted", "plan_approved")


def _fmt(v) -> str:
    if v is None:
        return r"\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, datetime):
        return v.isoformat()
    s = str(v)
    if "\\" in s or "\t" in s or "\n" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return s


def copy(cur, table: str, cols: list[str], rows, chunk: int = 100_000) -> int:
    """COPY rows into ``table`` in chunks (text format), returning the count."""
    n = 0
    buf = io.StringIO()
    sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN"
    for row in rows:
        buf.write("\t".join(_fmt(v) for v in row))
        buf.write("\n")
        n += 1
        if n % chunk == 0:
            buf.seek(0)
            cur.copy_expert(sql, buf)
            buf = io.StringIO()
    if buf.tell():
        buf.seek(0)
        cur.copy_expert(sql, buf)
    return n


def release_state(rng: random.Random, start: datetime, now: datetime) -> str:
    """A state that fits where the release's window lies relative to now."""
    days = (start - now).total_seconds() / 86400
    if days > 25:
        return rng.choice(("new", "planning", "planning", "plan_submitted", "cancelled"))
    if days > 10:
        return rng.choice(("plan_submitted", "plan_approved", "scheduled", "scheduled", "packaging"))
    if days > 2:
        return rng.choice(("packaging", "building", "built", "testing", "tests_passed", "plans_updated"))
    if days > 0:
        return rng.choice(("plans_updated", "ready", "go", "backed_up"))
    if days > -3:
        return rng.choice(("deploying", "deployed", "verified", "rolling_back"))
    if days > -30:
        return rng.choice(("evaluated", "in_review", "in_review", "succeeded", "rolled_back", "closed", "closed"))
    # Long past: closed (a rolled-back release is closed too, once its
    # problem is raised) or cancelled.
    return "closed" if rng.random() < 0.9 else "cancelled"


def path_to(state: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """The (name, source, target) steps that led to ``state``."""
    if state == "cancelled":
        stop = rng.choice(STATE_ORDER[: IDX["deploying"]])
        return path_to(stop, rng) + [(_step(stop, "cancelled"), stop, "cancelled")]
    if state in ("rolling_back", "rolled_back"):
        steps = path_to("deployed", rng) + [(_step("deployed", "rolling_back"), "deployed", "rolling_back")]
        if state == "rolled_back":
            steps.append((_step("rolling_back", "rolled_back"), "rolling_back", "rolled_back"))
        return steps
    out = []
    for prev, nxt in zip(STATE_ORDER, STATE_ORDER[1 : IDX[state] + 1]):
        out.append((_step(prev, nxt), prev, nxt))
    return out


def reached(state: str, milestone: str) -> bool:
    if state in ("rolling_back", "rolled_back"):
        return IDX[milestone] <= IDX["deployed"]
    if state == "cancelled":
        return False
    return IDX[state] >= IDX[milestone]


def make_users():
    """Users with roles and API tokens, teams and vendors: through the ORM."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from releases.models import Team, Vendor

    User = get_user_model()
    groups = {g.name: g for g in Group.objects.all()}
    users = {}
    spec = [(f"rm{i:02d}", "release_manager") for i in range(1, N_RM + 1)]
    spec += [(f"cab{i}", "cab_member") for i in range(1, 6)]
    spec += [(f"cm{i}", "change_manager") for i in range(1, 4)]
    spec += [(f"dm{i}", "delivery_manager") for i in range(1, 3)]
    spec += [(f"build{i}", "build_team") for i in range(1, 6)]
    spec += [(f"test{i}", "test_team") for i in range(1, 6)]
    spec += [(f"deploy{i}", "deployment_team") for i in range(1, 6)]
    spec += [(f"vendor{i}", "vendor") for i in range(1, 6)]
    hashed = None
    for username, role in spec:
        user = User(username=username, email=f"{username}@example.com")
        if hashed is None:  # hashing is slow on purpose: once is enough
            user.set_password(PASSWORD)
            hashed = user.password
        user.password = hashed
        user.save()
        user.groups.add(groups[role])
        users[username] = user
    teams = [Team.objects.create(name=n, email=f"{n.lower()}@example.com")
             for n in ("Build", "Test", "Deployment", "DBA", "Network", "Platform")]
    for t, prefix in zip(teams[:3], ("build", "test", "deploy")):
        t.members.add(*[u for name, u in users.items() if name.startswith(prefix)])
    vendors = [Vendor.objects.create(name=f"Vendor {i}", email=f"vendor{i}@example.com") for i in range(1, 6)]
    for i, v in enumerate(vendors, 1):
        v.users.add(users[f"vendor{i}"])
    tokens = {name: Token.objects.create(user=u).key for name, u in users.items()}
    return users, teams, vendors, tokens


def session_for(user) -> str:
    """A logged-in session for the UI pages, as the login view would write it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from importlib import import_module

    backends = [b for b in settings.AUTHENTICATION_BACKENDS if b.endswith("ModelBackend")]
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = (backends or settings.AUTHENTICATION_BACKENDS)[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


BULK_TABLES = [
    "releases_historicalrelease", "releases_transitionlog", "releases_cabvote", "releases_gonogodecision",
    "releases_deployment", "releases_releasescopeitem", "releases_task", "releases_release_rfcs",
    "releases_releaseplan", "releases_release", "cmdb_configurationitem_depends_on", "cmdb_configurationitem",
    "changes_changerequest", "reports_stay",
]


def _stays(cursor) -> int:
    """The releases' stays, from the log just loaded (``reports.stays``)."""
    from reports.months import keep_all
    from reports.stays import rebuild

    rebuild()
    keep_all()  # as the migration that brought the monthly sums does on an installation
    cursor.execute("SELECT COUNT(*) FROM reports_stay")
    return cursor.fetchone()[0]


def seed(scale: float = 1.0, seed_value: int = 7, now: datetime | None = None, log=print) -> dict:
    from django.contrib.contenttypes.models import ContentType

    from releases.models import Release, Task

    t_all = time.monotonic()
    rng = random.Random(seed_value)
    n = {k: max(1, int(v * scale)) for k, v in FULL.items()}
    now = (now or datetime.now(dt_tz.utc)).replace(microsecond=0)
    t0 = now - timedelta(days=365 * YEARS)
    span = (now - t0).total_seconds()
    timings = {}

    with transaction.atomic():
        users, teams, vendors, tokens = make_users()
    rms = [users[f"rm{i:02d}"].pk for i in range(1, N_RM + 1)]
    cabs = [users[f"cab{i}"].pk for i in range(1, 6)]
    workers = [u.pk for name, u in users.items() if name[:4] in ("buil", "test", "depl")]
    team_ids = [t.pk for t in teams]
    vendor_ids = [v.pk for v in vendors]
    ct_release = ContentType.objects.get_for_model(Release).pk
    ContentType.objects.get_for_model(Task)

    with transaction.atomic(), connection.cursor() as c:
        cur = c.cursor  # psycopg2's, for copy_expert
        cur.execute("SET LOCAL synchronous_commit = off")

        def timed(name, fn):
            t = time.monotonic()
            count = fn()
            timings[name] = (count, time.monotonic() - t)
            log(f"  {name:<24} {count:>9,} rows  {time.monotonic() - t:6.1f} s")

        # -- CMDB -------------------------------------------------------------------
        ci_types = ("application", "server", "database", "network", "service")

        def cis():
            for i in range(1, n["cis"] + 1):
                created = t0 + timedelta(seconds=span * i / n["cis"] / 4)
                yield (i, f"ci-{i:06d}", ci_types[i % 5], f"{1 + i % 9}.{i % 17}.{i % 5}", "live",
                       "{}", created, created, None)

        timed("configuration items", lambda: copy(cur, "cmdb_configurationitem", [
            "id", "name", "ci_type", "version", "status", "attributes", "created_at", "updated_at", "owner_id"],
            cis()))

        def deps():
            k = 0
            for i in range(2, n["cis"] + 1):
                k += 1
                yield (k, i, rng.randrange(1, i))  # an earlier CI: acyclic, like the real order

        timed("CI dependencies", lambda: copy(cur, "cmdb_configurationitem_depends_on", [
            "id", "from_configurationitem_id", "to_configurationitem_id"], deps()))

        # -- releases and what hangs off them, decided once per release --------------
        N = n["releases"]
        types = ["minor"] * 7 + ["major"] * 2 + ["emergency"]
        rel = []  # (id, type, state, rm, created, start, end)
        for i in range(1, N + 1):
            created = t0 + timedelta(seconds=span * i / N)
            start = created + timedelta(days=rng.randint(14, 40), hours=rng.randint(0, 23))
            end = start + timedelta(hours=rng.randint(2, 8))
            rel.append((i, rng.choice(types), release_state(rng, start, now), rng.choice(rms), created, start, end))

        def has_plan(state):
            return state != "new" and (state != "cancelled" or rng.random() < 0.5)

        plan_of = {r[0]: r[0] for r in rel if has_plan(r[2])}  # plan id = release id (one version)

        def releases():
            for rid, typ, state, rm, created, start, end in rel:
                approved = rid if rid in plan_of and reached(state, "plan_approved") else None
                yield (rid, f"Release {rid}: {typ} change bundle", "Seeded for the benchmark.", typ, start, end,
                       "", state, created, max(created, min(end, now)), rm, approved, 0)

        timed("releases", lambda: copy(cur, "releases_release", [
            "id", "title", "description", "release_type", "planned_start", "planned_end", "acceptance_criteria",
            "state", "created_at", "updated_at", "release_manager_id", "approved_plan_id", "calendar_sequence"],
            releases()))

        def history():
            for rid, typ, state, rm, created, start, end in rel:
                yield (rid, f"Release {rid}: {typ} change bundle", "Seeded for the benchmark.", typ, start, end, "",
                       "new", created, created, created, None, "+", rm, rm, None, 0)

        timed("release history", lambda: copy(cur, "releases_historicalrelease", [
            "id", "title", "description", "release_type", "planned_start", "planned_end", "acceptance_criteria",
            "state", "created_at", "updated_at", "history_date", "history_change_reason", "history_type",
            "history_user_id", "release_manager_id", "approved_plan_id", "calendar_sequence"], history()))

        # RFCs: one per release (the RFC that triggered it), in the state the
        # release drives it to; the remainder wait for a release.
        def rfc_state(state):
            if state == "closed":
                return "closed"
            if state in ("rolling_back", "rolled_back"):
                return "failed"
            if state in ("in_review", "succeeded"):
                return "reviewed"
            if reached(state, "deployed"):
                return "implemented"
            if reached(state, "scheduled"):
                return "scheduled"
            return "authorized" if state != "new" else "assessed"

        def rfcs():
            requesters = workers + rms
            for i in range(1, n["rfcs"] + 1):
                if i <= N:
                    r = rel[i - 1]
                    state, created = rfc_state(r[2]), r[4] - timedelta(days=3)
                else:
                    state, created = rng.choice(("submitted", "assessed", "authorized", "rejected")), now
                yield (i, f"RFC {i}", "Seeded for the benchmark.", "normal" if i % 10 else "emergency",
                       ("low", "medium", "high")[i % 3], ("low", "medium", "high")[(i // 3) % 3], state, "",
                       created, created, rng.choice(requesters))

        timed("RFCs", lambda: copy(cur, "changes_changerequest", [
            "id", "title", "description", "change_type", "risk", "impact", "state", "closure_comments",
            "created_at", "updated_at", "requester_id"], rfcs()))
        timed("release-RFC links", lambda: copy(cur, "releases_release_rfcs", [
            "id", "release_id", "changerequest_id"], ((i, i, i) for i in range(1, min(N, n["rfcs"]) + 1))))

        per_release_links = max(1, n["links"] // N)

        def scope():
            k = 0
            for rid, typ, state, rm, created, start, end in rel:
                for ci in rng.sample(range(1, n["cis"] + 1), min(per_release_links, n["cis"])):
                    k += 1
                    yield (k, f"{1 + ci % 9}.{ci % 17}.{1 + ci % 5}", created, ci, rm, rid)

        timed("release-CI links", lambda: copy(cur, "releases_releasescopeitem", [
            "id", "target_version", "created_at", "ci_id", "created_by_id", "release_id"], scope()))

        per_release_tasks = max(1, n["tasks"] // N)
        steps = (3, 4, 5, 6, 9, 11, 12, 12, 12, 13)

        def task_state(rstate):
            if rstate in ("closed",) or reached(rstate, "deployed") and rstate != "cancelled":
                return "done"
            if rstate == "cancelled":
                return "cancelled"
            if rstate in EARLY or rstate == "scheduled":
                return "open"
            return rng.choice(("open", "in_progress", "in_progress", "done", "blocked"))

        def tasks():
            k = 0
            for rid, typ, state, rm, created, start, end in rel:
                for j in range(per_release_tasks):
                    k += 1
                    step = steps[j % len(steps)]
                    t_start = start - timedelta(days=max(0, 12 - step), hours=j)
                    t_end = t_start + timedelta(hours=4)
                    who = j % 3
                    yield (k, f"Task {j + 1} of release {rid}", "", step, t_start, t_end, "", task_state(state),
                           created, created, rng.choice(workers) if who == 0 else None, rid,
                           rng.choice(team_ids) if who == 1 else None, rng.choice(vendor_ids) if who == 2 else None,
                           0)

        timed("tasks", lambda: copy(cur, "releases_task", [
            "id", "title", "description", "step", "planned_start", "planned_end", "vendor_ticket_ref", "state",
            "created_at", "updated_at", "assignee_user_id", "release_id", "assignee_team_id", "assignee_vendor_id",
            "calendar_sequence"], tasks()))

        # -- step records -------------------------------------------------------------
        by_id = {r[0]: r for r in rel}

        def plans():
            for rid in plan_of:
                _, typ, state, rm, created, start, end = by_id[rid]
                yield (rid, created, created, 1, "Seeded scope.", start, end, "Rolling deployment.", "Low.",
                       "Build, test and deployment teams.", typ == "major", "", "planning", rm, rid)

        timed("release plans", lambda: copy(cur, "releases_releaseplan", [
            "id", "created_at", "updated_at", "version", "scope", "deployment_start", "deployment_end",
            "deployment_approach", "risks", "teams", "downtime_expected", "notes", "created_in_state",
            "created_by_id", "release_id"], plans()))

        def votes():
            k = 0
            for rid in plan_of:
                _, typ, state, rm, created, start, end = by_id[rid]
                if reached(state, "plan_approved"):
                    for voter in rng.sample(cabs, 2):
                        k += 1
                        yield (k, created, created, "approve", "", voter, rid, rid)

        timed("CAB votes", lambda: copy(cur, "releases_cabvote", [
            "id", "created_at", "updated_at", "decision", "comment", "created_by_id", "release_id", "plan_id"],
            votes()))

        def go():
            k = 0
            for rid, typ, state, rm, created, start, end in rel:
                if reached(state, "go"):
                    k += 1
                    yield (k, start, start, "go", "", users["dm1"].pk, rid)

        timed("Go decisions", lambda: copy(cur, "releases_gonogodecision", [
            "id", "created_at", "updated_at", "decision", "reason", "created_by_id", "release_id"], go()))

        def deployments():
            k = 0
            for rid, typ, state, rm, created, start, end in rel:
                if reached(state, "deploying"):
                    k += 1
                    done = end if reached(state, "deployed") else None
                    # No pipeline reported these: run, commit, environment, outcome and log blank.
                    yield (k, start, start, start, done, "", "", "", "", "", "", "", rm, rid)

        timed("deployments", lambda: copy(cur, "releases_deployment", [
            "id", "created_at", "updated_at", "started_at", "completed_at", "freeze_override_reason", "notes",
            "environment", "run_url", "commit", "outcome", "log_url", "created_by_id", "release_id"], deployments()))

        def logs():
            k = 0
            for rid, typ, state, rm, created, start, end in rel:
                steps_ = path_to(state, rng)
                if not steps_:
                    continue
                gap = (min(end, now) - created) / (len(steps_) + 1)
                for j, (name, src, dst) in enumerate(steps_, 1):
                    k += 1
                    reason = "Seeded." if dst == "cancelled" else ""
                    yield (k, rid, name, src, dst, created + gap * j, reason, "{}", rm, ct_release)

        timed("transition log", lambda: copy(cur, "releases_transitionlog", [
            "id", "object_id", "name", "source", "target", "at", "reason", "payload", "by_id", "content_type_id"],
            logs()))

        timed("stays", lambda: _stays(c))

        for table in BULK_TABLES:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', "
                        f"'{'history_id' if 'historical' in table else 'id'}'), "
                        f"(SELECT COALESCE(MAX({'history_id' if 'historical' in table else 'id'}), 0) + 1 "
                        f"FROM {table}), false)")

    t = time.monotonic()
    with connection.cursor() as c:
        c.execute("ANALYZE")
    log(f"  {'ANALYZE':<24} {'':>9}       {time.monotonic() - t:6.1f} s")

    # What the driver picks its requests from.
    rm = users["rm01"]
    active = ("packaging", "building", "built", "testing", "tests_passed", "plans_updated")
    mine = [r for r in rel if r[3] == rm.pk and r[2] in active]
    # Tasks the transition pair blocks and unblocks: in progress, of releases
    # that have started packaging (unblock needs an active release).
    pair = list(Task.objects.filter(state="in_progress", release__state__in=active)
                .order_by("id").values_list("id", flat=True)[:400])
    state = {
        "scale": scale, "seed": seed_value, "now": now.isoformat(), "counts": n,
        "tokens": {"rm": tokens["rm01"], "cab": tokens["cab1"]}, "session": session_for(rm),
        "release_ids": [r[0] for r in rel if r[2] != "new"][:: max(1, N // 2000)],
        "page_release_ids": [r[0] for r in mine] or [r[0] for r in rel if r[2] in active][:200],
        "pair_task_ids": pair, "max_task_id": per_release_tasks * N,
        "closed_minor": sum(1 for r in rel if r[2] == "closed" and r[1] == "minor"),
        "seconds": round(time.monotonic() - t_all, 1),
        "timings": {k: [v[0], round(v[1], 2)] for k, v in timings.items()},
    }
    state["gate"] = gate_state(seed_value)
    log(f"  seeded in {state['seconds']} s")
    return state


# Where the releases a pipeline polls the gate about stand: on their way to
# deployment, from testing to the deployment itself.
GATE_STATES = ("testing", "tests_passed", "plans_updated", "ready", "go", "backed_up", "deploying")


def gate_state(seed_value: int = 7) -> dict:
    """What the gate's endpoints ask about: a pipeline's gate token (the
    service account ``deploy1``, deployment team) and 500 releases on their
    way to deployment, each as its number and one CI and version of its scope."""
    from django.contrib.auth import get_user_model

    from pipelines.models import PipelineToken
    from releases.models import ReleaseScopeItem

    rng = random.Random(seed_value)
    token = PipelineToken(name="Bench pipeline", user=get_user_model().objects.get(username="deploy1"))
    key = token.set_new_key()
    token.save()
    items = list(ReleaseScopeItem.objects.filter(release__state__in=GATE_STATES).order_by("release_id", "id")
                 .values_list("release_id", "ci__name", "target_version")[:20000])
    picks = rng.sample(items, min(500, len(items)))
    return {"token": key, "picks": [[f"REL-{rid:05d}", ci, version] for rid, ci, version in picks]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="1.0 = 100k releases; 0.1 = 10k")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", help="write the driver's state (tokens, ids) here as JSON")
    p.add_argument("--gate-only", action="store_true",
                   help="add the gate's token and picks to the state file --out names, for a database seeded "
                        "before the gate was measured")
    args = p.parse_args(argv)
    from releases.models import Release

    if args.gate_only:
        with open(args.out) as fh:
            state = json.load(fh)
        state["gate"] = gate_state(args.seed)
        with open(args.out, "w") as fh:
            json.dump(state, fh, indent=1)
        return
    if Release.objects.exists():
        sys.exit("The database already holds releases: seed an empty, migrated database.")
    state = seed(args.scale, args.seed)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(state, fh, indent=1)


if __name__ == "__main__":
    main()
