"""Every transition, tried from every state, by every role, over the API.

For each state machine the API exposes (release, RFC, task, configuration
item), an object stands in each state and every user below POSTs every
transition name to it: one user per role, a user with no role, and a
superuser. What may succeed is written out here by hand from the contract
(release-flow.md: source states and roles per transition), not read from the
code's own ``specs()``: a 2xx is allowed only where the state is a source of
the transition and the user's role may perform it. Everything else must be
403, 404 or 409, and nothing may be a 5xx. Where the contract allows a
transition but a guard blocks it (409 with blockers), that is fine; but every
transition must succeed somewhere in the table, so a server that refuses
everything does not pass either.

Objects reach their states through the services (``releases.scenario``), one
object per state; each attempt runs in a savepoint that is rolled back, so
the next attempt sees the object as it was.
"""
from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import transaction

from changes.models import ChangeRequest
from changes.services import rfc_create, rfc_transition
from cmdb.models import ConfigurationItem
from cmdb.services import ci_transition
from releasemgmt.workflow import specs
from releases import services as s
from releases.choices import ReleaseState, ReleaseType, TaskState
from releases.models import Release, Task, Vendor
from releases.scenario import Walker, authorised_rfc, new_release
from tests.signatures import PASSWORD, signature, signed

from .clients import APIClient

pytestmark = pytest.mark.django_db

# --- the contract, by hand -------------------------------------------------------------

RM, CM, CAB = "release_manager", "change_manager", "cab_member"
DELIVERY, BUILD, DEPLOY, CONF = "delivery_manager", "build_team", "deployment_team", "configuration_manager"

# Who tries: every role, plus a user holding none and a superuser. A
# superuser holds every role (so an admin can act in Django admin), still
# bound by segregation of duties, which the guards report as a 409.
WHO = (RM, CM, CAB, DELIVERY, BUILD, "test_team", DEPLOY, CONF, "vendor", "stakeholder", "no role", "superuser")


def roles_of(who: str) -> set[str]:
    if who == "superuser":
        return set(WHO) - {"no role", "superuser"}
    return set() if who == "no role" else {who}


def go_deciders(release) -> set[str]:
    """Go/No-Go: the delivery manager for non-major releases; the change
    manager or the CAB for major ones."""
    return {CM, CAB} if release.release_type == ReleaseType.MAJOR else {DELIVERY}


BEFORE_DEPLOYING = ("new", "planning", "plan_submitted", "plan_approved", "scheduled", "packaging", "building",
                    "built", "testing", "tests_passed", "plans_updated", "ready", "go", "backed_up")

# transition: (source states, roles that may perform it) -- release-flow.md, "Release transitions".
RELEASE = {
    "start_planning": (("new",), {RM}),
    "submit_plan": (("planning",), {RM}),
    "approve_plan": (("plan_submitted",), {CAB}),
    "reject_plan": (("plan_submitted",), {CAB}),
    "schedule": (("plan_approved",), {RM}),
    "start_packaging": (("scheduled",), {RM}),
    "start_build": (("packaging",), {RM}),
    "complete_build": (("building",), {RM, BUILD}),
    "start_testing": (("built",), {RM}),
    "pass_tests": (("testing",), {RM}),
    "fail_tests": (("testing",), {RM}),
    "update_plans": (("tests_passed",), {RM}),
    "prepare": (("plans_updated",), {RM}),
    "approve_go": (("ready",), go_deciders),
    "no_go": (("ready",), go_deciders),
    "record_backup": (("go",), {RM}),
    "start_deployment": (("backed_up",), {DEPLOY, RM}),
    "complete_deployment": (("deploying",), {DEPLOY, RM}),
    "verify_deployment": (("deployed",), {RM}),
    "evaluate": (("verified",), {CM}),
    "start_review": (("evaluated",), {CM}),
    "accept": (("in_review",), {CM}),
    "rollback": (("deploying", "deployed", "verified", "evaluated", "in_review"), {RM}),
    "complete_rollback": (("rolling_back",), {RM}),
    "close": (("succeeded", "rolled_back"), {RM}),
    "cancel": (BEFORE_DEPLOYING, {RM, CM}),
}

# RFCs: the contract fixes the states and that "the release drives its
# RFCs" (scheduled, implemented, reviewed, failed, closed): no user performs
# those. Change Management decides the rest; the contract names no finer
# roles, so this is the reading a release manager would expect: the change
# manager assesses; the change manager or the CAB (the change authority)
# authorises or rejects; the change manager, or a release manager
# withdrawing a change, cancels. Nobody decides on their own RFC (a 409).
RFC = {
    "assess": (("submitted",), {CM}),
    "authorize": (("assessed",), {CM, CAB}),
    "reject": (("submitted", "assessed"), {CM, CAB}),
    "cancel": (("submitted", "assessed", "authorized"), {CM, RM}),
    "schedule": ((), set()),
    "unschedule": ((), set()),
    "implement": ((), set()),
    "review": ((), set()),
    "fail": ((), set()),
    "close": ((), set()),
}

# Tasks: "open -> in_progress -> done; blocked and back; cancelled"; the
# work is done by whoever it is assigned to (a vendor "updates only its own
# tasks") or the release manager; only the release manager cancels one.
ASSIGNEE = "the assignee"
TASK = {
    "start": (("open",), {RM, ASSIGNEE}),
    "complete": (("in_progress",), {RM, ASSIGNEE}),
    "block": (("open", "in_progress"), {RM, ASSIGNEE}),
    "unblock": (("blocked",), {RM, ASSIGNEE}),
    "cancel": (("open", "in_progress", "blocked"), {RM}),
}

# Configuration items: the CMDB is the configuration manager's (step 20).
CI = {
    "commission": (("planned",), {CONF}),
    "retire": (("planned", "live"), {CONF}),
}

UNKNOWN = "no_such_transition"  # every machine: a 404, for everyone
# Transitions that need a reason get one; signed decisions get the actor's
# signature (every user here has the test password).
BODY = {"reason": "Checking the transition table.", "signature": {"password": PASSWORD}}
REFUSED = {403, 404, 409}


def body_for(model, name: str) -> dict:
    """``BODY``, less the signature where the transition is not a signed
    decision (a transition takes only what it declares)."""
    spec = specs(model).get(name)
    return BODY if spec is not None and spec.signed is not None else {"reason": BODY["reason"]}

# Transitions that need what no state of these walks provides, so they may
# never succeed here: fail_tests needs a failed mandatory test, and the walk
# records passes.
NEVER_SUCCEED_HERE = {("release", "fail_tests")}


# --- the table --------------------------------------------------------------------------


@dataclasses.dataclass
class Table:
    people: dict
    rows: list = dataclasses.field(default_factory=list)
    seen: set = dataclasses.field(default_factory=set)  # (machine, state) tried

    def __post_init__(self):
        self.clients = {who: self.client(user) for who, user in self.people.items()}

    @staticmethod
    def client(user):
        client = APIClient()
        client.raise_request_exception = False  # a crash is a 500 to count, not an exception
        client.force_authenticate(user)
        return client

    def try_all(self, machine: str, obj, contract: dict, *, assignee=None, label: str = ""):
        """POST every transition of ``contract`` (and an unknown one) to ``obj``
        as every user (and as ``assignee``, the user a task is assigned to).
        The attempts run in a savepoint, rolled back after every success (and
        at the end), so each attempt finds the object as it was."""
        clients = dict(self.clients)
        if assignee is not None:
            clients[ASSIGNEE] = self.client(assignee)
        model = type(obj)
        field = "status" if model is ConfigurationItem else "state"
        read = model.objects.values_list(field, flat=True)
        state = read.get(pk=obj.pk)
        self.seen.add((machine, state))
        base = {"release": "releases", "rfc": "rfcs", "task": "tasks", "ci": "cis"}[machine]
        savepoint = transaction.savepoint()
        try:
            for name in [*contract, UNKNOWN]:
                sources, roles = contract.get(name, ((), set()))
                roles = roles(obj) if callable(roles) else roles
                for who, client in clients.items():
                    holds = {ASSIGNEE} if who == ASSIGNEE else roles_of(who)
                    may = state in sources and bool(holds & roles)
                    response = client.post(f"/api/{base}/{obj.pk}/transitions/{name}/", body_for(model, name),
                                           format="json")
                    if response.status_code >= 500:  # the transaction may be unusable: undo first
                        transaction.savepoint_rollback(savepoint)
                        savepoint = transaction.savepoint()
                    after = read.get(pk=obj.pk)
                    if after != state or 200 <= response.status_code < 300:
                        transaction.savepoint_rollback(savepoint)
                        savepoint = transaction.savepoint()
                    self.rows.append(Row(machine, label or state, name, who, may, response.status_code, state,
                                         after, response.content[:300]))
        finally:
            transaction.savepoint_rollback(savepoint)

    # -- verdicts --

    def failures(self):
        return [r for r in self.rows if r.verdict.startswith("FAIL")]

    def summary(self) -> str:
        lines = []
        per_machine = defaultdict(Counter)
        for r in self.rows:
            per_machine[r.machine][r.verdict] += 1
        for machine, counts in per_machine.items():
            states = sorted({r.label for r in self.rows if r.machine == machine})
            lines.append(f"{machine}: {sum(counts.values())} attempts over {len(states)} states")
            for verdict, n in sorted(counts.items()):
                lines.append(f"    {n:6d}  {verdict}")
        statuses = Counter(r.status for r in self.rows)
        lines.append("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
        return "\n".join(lines)

    def check(self, machines: dict):
        """Fail on any unexpected outcome; print the summary either way."""
        report = self.summary()
        print(report)
        failures = self.failures()
        details = "\n".join(f"  {r}" for r in failures[:40])
        assert not failures, f"{len(failures)} unexpected outcomes:\n{details}\n{report}"
        for machine, contract in machines.items():
            succeeded = {r.name for r in self.rows if r.machine == machine and 200 <= r.status < 300}
            expected = {n for n, (sources, _) in contract.items() if sources} - {
                n for m, n in NEVER_SUCCEED_HERE if m == machine}
            assert expected <= succeeded, (f"{machine}: never succeeded for anyone: {sorted(expected - succeeded)}"
                                           f"\n{report}")


@dataclasses.dataclass
class Row:
    machine: str
    label: str
    name: str
    who: str
    may: bool
    status: int
    before: str
    after: str
    body: bytes

    @property
    def verdict(self) -> str:
        ok = 200 <= self.status < 300
        if self.status >= 500:
            return "FAIL server error"
        if ok and not self.may:
            return "FAIL unexpected success"
        if not ok and self.after != self.before:
            return "FAIL refused but the state changed"
        if ok and self.after == self.before:
            return "FAIL success without a state change"
        if ok:
            return "ok: allowed, done"
        if self.status not in REFUSED:
            return f"FAIL answered {self.status}"
        if self.may and self.status != 409:
            return f"FAIL the contract allows it, the API answered {self.status}"
        return "ok: allowed, a guard blocks (409)" if self.may else f"ok: refused ({self.status})"

    def __str__(self):
        return (f"{self.machine} [{self.label}] {self.name} by {self.who}: {self.status} "
                f"(may: {self.may}; {self.before} -> {self.after}) {self.body[:160]!r}")


@pytest.fixture(autouse=True)
def _quiet_refusals(caplog):
    """Thousands of refusals are expected here; logging each twice (the
    refusal record's warning and Django's 4xx warning) only costs time."""
    caplog.set_level(logging.ERROR, logger="django.request")
    caplog.set_level(logging.ERROR, logger="releasemgmt.refusals")


@pytest.fixture
def people(actors, make_user, django_user_model):
    vendor_user = make_user("vendor", username="acme-user")
    Vendor.objects.create(name="Acme", email="queue@acme.example").users.add(vendor_user)
    superuser = django_user_model.objects.create_superuser("admin", "admin@example.test", "pw-test-12345")
    return {
        # The release's own release manager; the first CAB member (not the
        # release manager nor a requester); a stakeholder who requested nothing.
        RM: actors.release_manager, CM: actors.change_manager, CAB: actors.cab_members[0],
        DELIVERY: actors.delivery_manager, BUILD: actors.build_team, "test_team": actors.test_team,
        DEPLOY: actors.deployment_team, CONF: actors.configuration_manager, "vendor": vendor_user,
        "stakeholder": make_user("stakeholder"), "no role": make_user(), "superuser": superuser,
    }


def assert_covers(contract: dict, model, states):
    """The table names every transition the API offers and every state, so a
    new one cannot slip past it."""
    assert set(contract) == set(specs(model)), "the table and the API disagree on transition names"
    assert set(states) == {v for v, _ in model._meta.get_field(
        "status" if model is ConfigurationItem else "state").choices}


# --- releases (and the RFCs they drive) --------------------------------------------------


class Steps:
    """Walks a release with ``releases.scenario.Walker``, stopping in every
    state: the walker's step for a state adds the records its way out needs,
    then the table is tried, then the step's transition is really made."""

    def __init__(self, release, actors, table, rfc_table=None):
        self.walker = Walker(release, actors)
        self.table = table
        self.rfc_table = rfc_table
        self.pending = []
        self.walker.go = lambda name, by, **payload: self.pending.append((name, by, payload))

    @property
    def release(self):
        return self.walker.release

    def prepare(self):
        """Add the records the way out of the current state needs; the step's
        transition waits in ``pending``."""
        self.pending.clear()
        state = self.release.state
        step = getattr(self.walker, "go_" if state == "go" else state, None)
        if step is not None:  # closed and cancelled lead nowhere
            step()

    def start_rollback(self):
        self.pending.clear()
        self.walker.start_rollback()

    def move(self):
        (name, by, payload), = self.pending
        self.pending.clear()
        self.walker.release = s.release_transition(release_id=self.release.pk, name=name, by=by,
                                                   **signed(Release, name, payload))

    def visit(self, *, label=""):
        self.table.try_all("release", self.release, RELEASE, label=label)
        if self.rfc_table is not None:
            for rfc in self.release.rfcs.all():
                if ("rfc", rfc.state) not in self.table.seen:
                    self.table.try_all("rfc", rfc, RFC)

    def walk(self, until: str, *, table=True, on_arrival=None):
        """Until the release stands in ``until``: in each state, run
        ``on_arrival[state]`` if any, add what the way out needs, try the
        table (unless ``table`` is false), and move on."""
        while True:
            state = self.release.state
            if on_arrival and state in on_arrival:
                on_arrival[state]()
            if state != until or table:
                self.prepare()
            if table:
                self.visit()
            if state == until:
                return
            self.move()


def test_release_and_rfc_transitions_from_every_state_by_every_role(actors, people, cis):
    assert_covers(RELEASE, Release, ReleaseState.values)
    assert_covers(RFC, ChangeRequest, [v for v, _ in ChangeRequest._meta.get_field("state").choices])
    table = Table(people)

    # RFCs on their own: submitted, assessed, authorised (in no release),
    # rejected, cancelled.
    submitted = rfc_create(by=actors.requester, title="Submitted", description="An RFC.")
    table.try_all("rfc", submitted, RFC)
    assessed = rfc_create(by=actors.requester, title="Assessed", description="An RFC.")
    rfc_transition(rfc_id=assessed.pk, name="assess", by=actors.change_manager)
    table.try_all("rfc", assessed, RFC)
    table.try_all("rfc", authorised_rfc(actors, "Authorised"), RFC)
    rejected = rfc_transition(rfc_id=submitted.pk, name="reject", by=actors.change_manager, reason="Out of scope.",
                              signature=signature())
    table.try_all("rfc", rejected, RFC)
    cancelled = rfc_transition(rfc_id=assessed.pk, name="cancel", by=actors.change_manager, reason="Withdrawn.")
    table.try_all("rfc", cancelled, RFC)

    # A minor release through every state of the happy path to closed, its
    # RFC with it (scheduled, reviewed, closed). Rollback advice is recorded
    # once deploying, so `rollback` can succeed where the contract allows it.
    steps = Steps(new_release(actors, title="Happy path", cis=cis), actors, table, rfc_table=True)
    steps.walk("closed", on_arrival={"deploying": lambda: steps.walker.add(
        "rollback_advice", actors.delivery_manager, advice="Roll back if the health check fails.")})

    # A release rolled back after deployment: rolling_back, rolled_back, and
    # its RFC failed.
    rollback = Steps(new_release(actors, title="Rolled back", cis=cis), actors, table, rfc_table=True)
    rollback.walk("deployed", table=False)
    rollback.start_rollback()
    rollback.move()
    rollback.walk("rolled_back")

    # Cancelled; and a major release at the Go/No-Go, where the deciders differ.
    cancelled_release = s.release_transition(release_id=new_release(actors, title="Withdrawn").pk, name="cancel",
                                             by=actors.release_manager, reason="No longer needed.")
    table.try_all("release", cancelled_release, RELEASE)
    major = Steps(new_release(actors, title="Major", release_type=ReleaseType.MAJOR, cis=cis), actors, table)
    major.walk("ready", table=False)
    major.prepare()
    major.visit(label="ready (major)")

    # No flow leaves an RFC "implemented": accepting a release implements and
    # reviews its RFCs in one transaction. Only here is a state forced.
    implemented = authorised_rfc(actors, "Implemented")
    ChangeRequest.objects.filter(pk=implemented.pk).update(state="implemented")
    table.try_all("rfc", implemented, RFC)

    assert {st for m, st in table.seen if m == "release"} == set(ReleaseState.values)
    assert {st for m, st in table.seen if m == "rfc"} == {v for v, _ in ChangeRequest._meta.get_field("state").choices}
    table.check({"release": RELEASE, "rfc": RFC})


# --- tasks ---------------------------------------------------------------------------------


def test_task_transitions_from_every_state_by_every_role(actors, people, cis, make_user):
    assert_covers(TASK, Task, TaskState.values)
    table = Table(people)
    walker = Walker(new_release(actors, title="Activities", cis=cis), actors)
    walker.to("plan_approved")
    r = walker.release
    window = dict(planned_start=r.planned_start + timedelta(hours=3), planned_end=r.planned_end - timedelta(hours=3))
    # The assignees are not the users trying as their role: the build team's
    # user and the vendor user (of another vendor) must not act on work that
    # is not theirs.
    builder = make_user(BUILD, username="assigned-builder")
    globex = Vendor.objects.create(name="Globex", email="queue@globex.example")
    globex_user = make_user("vendor", username="globex-user")
    globex.users.add(globex_user)
    tasks = {}
    for state in TaskState.values:
        for kind, assignee, fields in (("person", builder, {"assignee_user": builder}),
                                       ("vendor", globex_user, {"assignee_vendor": globex})):
            tasks[state, kind] = (s.task_create(release_id=r.pk, by=actors.release_manager, step=12,
                                                title=f"{kind} task, {state}", **fields, **window), assignee)
    walker.to("scheduled")  # activities can start once the release is scheduled
    moves = {"open": [], "in_progress": ["start"], "blocked": ["block"], "done": ["start", "complete"],
             "cancelled": ["cancel"]}
    for (state, kind), (task, assignee) in tasks.items():
        for name in moves[state]:
            task = s.task_transition(task_id=task.pk, name=name, by=actors.release_manager, **BODY)
        assert task.state == state
        table.try_all("task", task, TASK, assignee=assignee, label=f"{state}, {kind}")
    table.check({"task": TASK})


# --- configuration items --------------------------------------------------------------------


def test_ci_transitions_from_every_state_by_every_role(actors, people):
    assert_covers(CI, ConfigurationItem, ["planned", "live", "retired"])
    table = Table(people)
    conf = actors.configuration_manager
    # No service registers a planned CI (the CMDB records what exists), so
    # the planned one is created as such; live and retired go through the service.
    planned = ConfigurationItem.objects.create(name="billing-next", status="planned", version="1.0")
    live = ConfigurationItem.objects.create(name="billing", version="3.2")
    gone = ConfigurationItem.objects.create(name="billing-legacy", version="2.9")
    gone = ci_transition(ci_id=gone.pk, name="retire", by=conf)
    for ci in (planned, live, gone):
        table.try_all("ci", ci, CI)
    table.check({"ci": CI})
