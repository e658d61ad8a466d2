"""Releases taken through the 20 steps by an integration that knows only the
published schema (``schema_client``): a minor, a major, an emergency and a
rolled-back release, each step by a user of the role that owns it
(release-flow.md), signed decisions signed as docs/api.md says an
integration signs (the acting user's own password, given at the moment of
the decision, in ``signature``).

Nothing here imports the application: calls go through the document's
operations, ids come from answers, and what a transition needs (a reason, a
signature) is read from the transitions list, as a generated client would.
The few refusals a journey asks for are the documented ones (a role that
may not, a decision unsigned or wrongly signed), made with ``expect=``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .schema_client import Session

TRANSITIONS = "/api/{resource}/{id}/transitions/"
PERFORM = "/api/{resource}/{id}/transitions/{name}/"
RECORDS = "/api/releases/{release_pk}/%s/"
RECORD = "/api/releases/{release_pk}/%s/{id}/"

# The record types the journeys edit (PATCH) for a reason of their own.
AMENDED = {"test_cases", "build_documents", "prerequisite_checks", "rollback_plans", "pre_implementation_checks",
           "environment_readiness", "training_plans", "backups", "problem_references", "closure_comments"}

# The order of the release states along the 20 steps (release-flow.md); the
# journeys assert that a release went through them in this order.
HAPPY_PATH = ["new", "planning", "plan_submitted", "plan_approved", "scheduled", "packaging", "building", "built",
              "testing", "tests_passed", "plans_updated", "ready", "go", "backed_up", "deploying", "deployed",
              "verified", "evaluated", "in_review", "succeeded", "closed"]
ROLLED_BACK_PATH = HAPPY_PATH[:HAPPY_PATH.index("in_review") + 1] + ["rolling_back", "rolled_back", "closed"]


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Cast:
    """The people of a journey, one session each (``name -> Session``), the
    password they sign with, and what an administrator set up outside the
    API: the vendor (with its integration secret) and a team."""
    people: dict
    password: str
    vendor_id: int
    vendor_secret: str
    team_id: int
    ids: dict = field(default_factory=dict)  # username -> user id, read from /api/users/
    tried: set = field(default_factory=set)  # operations tried by ``Journey.try_offered``

    def __getitem__(self, name) -> Session:
        return self.people[name]


def needs(row: dict) -> set[str]:
    """What a transition's POST must carry, as its row in the transitions
    list says: ``reason_required``/``signature_required``, or a ``requires``
    list (of names, or of objects with a ``name`` or ``field``)."""
    wanted = set()
    if row.get("reason_required"):
        wanted.add("reason")
    if row.get("signature_required"):
        wanted.add("signature")
    requires = row.get("requires") or []
    for item in requires.items() if isinstance(requires, dict) else requires:
        if isinstance(item, tuple):
            item = item[0]
        if isinstance(item, dict):
            item = item.get("name") or item.get("field")
        wanted.add(str(item))
    return wanted


class Journey:
    """One release from its RFC to its closure, written as the steps of
    release-flow.md."""

    def __init__(self, cast: Cast, release_type: str, tag: str):
        self.c, self.type, self.tag = cast, release_type, tag
        self.now = datetime.now(timezone.utc)
        self.start, self.end = self.now - timedelta(days=1), self.now + timedelta(days=14)
        self.states: list[str] = []
        self.release = None
        self.records: dict[str, int] = {}

    # --- the moves every step uses ---------------------------------------------------------------------------------

    def transition(self, who: str, name: str, *, resource="releases", obj=None, reason=None, lifts=(), **payload):
        """Perform transition ``name`` as ``who``: its row in the list must be
        there and allowed (or blocked only by the blockers ``lifts``, which
        the payload lifts); the body carries what the row says it needs."""
        obj = self.release if obj is None else obj
        me = self.c[who]
        rows = me.get(TRANSITIONS.replace("{resource}", resource), path={"id": obj}).body
        row = next((r for r in rows if r["name"] == name), None)
        assert row is not None, f"{who}: {name} is not listed for {resource} {obj}: {rows}"
        blockers = {b["code"] for b in row["blockers"]}
        assert row["allowed"] or (lifts and blockers <= set(lifts)), f"{who}: {name} is not allowed: {row}"
        body = dict(payload)
        for need in needs(row):
            if need == "reason":
                body["reason"] = reason or f"{name}: see the release record."
            elif need == "signature":
                body["signature"] = {"password": self.c.password}
            else:
                assert need in body, f"{name} needs {need!r}, which the journey does not give"
        answer = me.post(PERFORM.replace("{resource}", resource), path={"id": obj, "name": name},
                         body=body or None).body
        state = answer.get("state", answer.get("status"))  # a CI's lifecycle is its status
        assert state == row["target"], (name, row["target"], state)
        if resource == "releases":
            self.states.append(answer["state"])
        return answer

    def record(self, who: str, record_type: str, **data) -> dict:
        created = self.c[who].post(RECORDS % record_type, path={"release_pk": self.release}, body=data).body
        self.records[record_type] = created["id"]
        if record_type not in AMENDED:
            self.try_offered(who, record_type, created)
        return created

    def try_offered(self, who: str, record_type: str, existing: dict, *, create=False):
        """What the schema offers on a record the journey has no use for
        (an edit of a record it never amends; a record a transition wrote):
        tried once per operation by the record's writer while its step is
        open, repeating values the record has. The schema offers it, so it
        must succeed for someone; the log says how it was answered."""
        me = self.c[who]
        tries = [(f"PATCH {RECORD % record_type}", {"release_pk": self.release, "id": existing["id"]}, False)]
        if create:
            tries.append((f"POST {RECORDS % record_type}", {"release_pk": self.release}, True))
        for label, path, whole in tries:
            if not me.api.offers(label) or label in self.c.tried:
                continue
            self.c.tried.add(label)
            writable = me.api.request_properties(label)
            body = {k: existing[k] for k in writable if existing.get(k) is not None}
            if not whole:
                body = dict(list(body.items())[:1])
            me.call(label, path=path, body=body, soft=True, note="offered by the schema")

    def amend(self, who: str, record_type: str, **data) -> dict:
        """PATCH the record of ``record_type`` this journey wrote last, with
        the ETag it was read with."""
        me, path = self.c[who], {"release_pk": self.release, "id": self.records[record_type]}
        etag = me.get(RECORD % record_type, path=path).etag
        return me.patch(RECORD % record_type, path=path, body=data, headers={"If-Match": etag}).body

    def read(self, who: str, record_type: str) -> list:
        return self.c[who].get(RECORDS % record_type, path={"release_pk": self.release}).body

    def at(self, hours: float) -> str:
        return iso(self.start + timedelta(hours=hours))

    def until(self, hours: float) -> str:
        return iso(self.end - timedelta(hours=hours))

    # --- before step 1 -------------------------------------------------------------------------------------------

    def register_cis(self):
        confman = self.c["confman"]
        db = confman.post("/api/cis/", body={"name": f"{self.tag}-db", "ci_type": "database",
                                              "version": "14.1"}).body
        api = confman.post("/api/cis/", body={"name": f"{self.tag}-api", "ci_type": "application", "version": "2.3",
                                               "depends_on": [db["id"]]}).body
        self.cis = {"api": api["id"], "db": db["id"]}

    def authorised_rfc(self) -> int:
        rfc = self.c["requester"].post("/api/rfcs/", body={
            "title": f"{self.tag}: faster checkout", "description": "Cache the basket totals.",
            "change_type": "emergency" if self.type == "emergency" else "normal", "risk": "medium",
            "impact": "low"}).body
        self.transition("cm", "assess", resource="rfcs", obj=rfc["id"])
        self.transition("cm", "authorize", resource="rfcs", obj=rfc["id"])
        self.rfc = rfc["id"]
        return rfc["id"]

    # --- steps 1 to 3 ------------------------------------------------------------------------------------------

    def raise_ticket(self):
        """Step 1: the ticket, tagged to its RFC, and its scope."""
        rm = self.c["rm"]
        release = rm.post("/api/releases/", body={
            "title": f"{self.tag} 2.4", "description": "Basket caching.", "release_type": self.type,
            "rfcs": [self.rfc], "planned_start": iso(self.start), "planned_end": iso(self.end)}).body
        assert release["state"] == "new" and release["rfcs"] == [self.rfc]
        self.release = release["id"]
        self.states.append(release["state"])
        for ci, version in ((self.cis["api"], "2.4"), (self.cis["db"], "14.2")):
            rm.post("/api/releases/{id}/scope/", path={"id": self.release}, body={"ci": ci, "target_version": version})
        assert len(rm.get("/api/releases/{id}/scope/", path={"id": self.release}).body) == 2

    def plan(self, *, downtime=False):
        return self.record("rm", "plans", scope=f"{self.tag}-api 2.4 and {self.tag}-db 14.2.",
                           deployment_start=self.at(2), deployment_end=self.until(2),
                           deployment_approach="Rolling deployment, one node at a time.",
                           risks="Checkout degradation during rollout; mitigated by the rollback plan.",
                           teams="Build, test and deployment teams; Acme Payments.", downtime_expected=downtime)

    def plan_and_approve(self, *, voters=("cab1", "cab2"), reject_first=False, downtime=False):
        """Step 2: the plan, the CAB's votes (signed) and its approval."""
        self.transition("rm", "start_planning")
        self.plan(downtime=downtime)
        self.transition("rm", "submit_plan")
        if reject_first:
            self.record("cab1", "votes", decision="reject", comment="Risks understated.",
                        signature={"password": self.c.password})
            self.transition("cab1", "reject_plan", reason="Risks understated; revise the plan.")
            self.plan(downtime=downtime)
            self.transition("rm", "submit_plan")
        for member in voters:
            vote = self.record(member, "votes", decision="approve", comment="Plan reviewed; risks acceptable.",
                               signature={"password": self.c.password})
            assert vote["decision"] == "approve"
        self.transition(voters[0], "approve_plan")

    def task(self, title, step, **assignee) -> int:
        return self.c["rm"].post("/api/tasks/", body={"release": self.release, "title": title, "step": step,
                                                      "planned_start": self.at(3), "planned_end": self.until(3),
                                                      **assignee}).body["id"]

    def assign_and_schedule(self, *, deferred_test=False, lifts=(), **payload):
        """Step 3: activities with assignees, the test cases, the calendar."""
        ids = self.c.ids
        self.packaging_task = self.task("Assemble packages", 4, assignee_user=ids["builder"])
        self.deploy_task = self.task("Deploy to production", 12, assignee_user=ids["deployer"])
        self.team_task = self.task("Warm the caches", 12, assignee_team=self.c.team_id)
        self.vendor_task = self.task("Switch payment gateway profile", 12, assignee_vendor=self.c.vendor_id)
        self.cases = [self.record("tester", "test_cases", name="Smoke test", mandatory=True)["id"]]
        self.amend("tester", "test_cases", description="Checkout, login, search.")
        if deferred_test:
            self.cases.append(self.record("tester", "test_cases", name="Load test", mandatory=True, deferred=True,
                                          deferral_justification="No time before the fix must ship.")["id"])
        else:
            self.cases.append(self.record("tester", "test_cases", name="Regression suite", mandatory=True)["id"])
        self.transition("rm", "schedule", lifts=lifts, **payload)
        entries = self.c["stakeholder"].get("/api/calendar/", query={"release": self.release}).body
        assert entries, "scheduling publishes the release calendar"

    # --- steps 4 to 9 ------------------------------------------------------------------------------------------

    def work(self, who, task, *names):
        for name in names:
            self.transition(who, name, resource="tasks", obj=task)

    def package_and_build(self):
        """Steps 4 and 5: packaging tasks, the build document, the checks and
        the pre-release baseline (the restore point)."""
        self.transition("rm", "start_packaging")
        self.work("builder", self.packaging_task, "start", "complete")
        self.transition("rm", "start_build")
        self.record("builder", "build_documents", build_install_test_plans="make release; install.sh.",
                    monitoring_qa="Checkout dashboards; QA sign-off.")
        self.amend("builder", "build_documents", deployment_procedures="Ansible playbook deploy.yml.",
                   rollback_procedures="Redeploy the 2.3 artefacts; restore the pre-release baseline.",
                   remediation_steps="Page on-call; roll back within 30 minutes.")
        self.record("builder", "security_checks", passed=True, notes="Dependency scan clean.")
        self.record("builder", "prerequisite_checks", description="Database migrations reviewed", verified=False)
        self.amend("confman", "prerequisite_checks", verified=True)
        baseline = self.c["confman"].post("/api/releases/{id}/baseline/", path={"id": self.release}).body
        assert baseline["kind"] == "pre_release"
        self.pre_baseline = baseline["id"]
        self.transition("builder", "complete_build")

    def run_tests(self, outcomes=("passed", "passed")):
        for case, outcome in zip(self.cases, outcomes):
            if outcome:
                self.record("tester", "test_results", test_case=case, outcome=outcome, notes="Run in staging.")

    def test(self, *, fail_once=False, outcomes=("passed", "passed")):
        """Steps 6 and 7: testing, and the decision (back to build on a failure)."""
        self.transition("rm", "start_testing")
        if fail_once:
            self.run_tests(("passed", "failed"))
            self.transition("rm", "fail_tests")
            self.transition("builder", "complete_build")
            self.transition("rm", "start_testing")
        self.run_tests(outcomes)
        self.attach_evidence()
        self.transition("rm", "pass_tests")

    def attach_evidence(self):
        """A test report attached to the last test result (multipart), read back and downloaded."""
        tester = self.c["tester"]
        created = tester.post("/api/evidence/", media="multipart/form-data", body={
            "record_type": "test_results", "record_id": self.records["test_results"],
            "file": ("staging-run.txt", b"2 passed, 0 failed\n"), "note": "Staging run"}).body
        tester.get("/api/evidence/{id}/", path={"id": created["id"]})
        got = tester.get("/api/evidence/{id}/download/", path={"id": created["id"]})
        assert got.status == 200

    def update_plans(self, *, downtime=False):
        """Step 8: the plan revised after testing, a tested rollback plan,
        pre-implementation checks, the plans circulated."""
        self.plan(downtime=downtime)
        self.record("rm", "rollback_plans", content="Restore the pre-release baseline; redeploy 2.3.")
        self.amend("rm", "rollback_plans", verification="tested", verification_notes="Rehearsed in staging.")
        self.record("rm", "pre_implementation_checks", description="Change window confirmed", passed=False)
        self.amend("rm", "pre_implementation_checks", passed=True)
        self.record("rm", "communications", kind="plan_circulation", roles=["change_manager", "stakeholder"],
                    subject=f"{self.tag}: revised plans", body="Plan and rollback plan attached.")
        self.transition("rm", "update_plans")

    def prepare(self):
        """Step 9: environments, acceptance criteria on the ticket (written
        with If-Match), the stakeholders told."""
        self.record("deployer", "environment_readiness", environment="production", ready=False)
        self.amend("deployer", "environment_readiness", ready=True, notes="Capacity checked.")
        rm, path = self.c["rm"], {"id": self.release}
        etag = rm.get("/api/releases/{id}/", path=path).etag
        updated = rm.patch("/api/releases/{id}/", path=path, headers={"If-Match": etag},
                           body={"acceptance_criteria": "Checkout p95 below 300 ms for 1 hour."}).body
        assert updated["acceptance_criteria"].startswith("Checkout p95")
        self.record("rm", "communications", kind="stakeholder_notice", roles=["stakeholder"],
                    subject=f"{self.tag} is coming", body="Deployment window in the release calendar.")
        self.transition("rm", "prepare")

    # --- steps 10 to 16 ----------------------------------------------------------------------------------------

    def go(self, decider: str, *, no_go_first=False):
        """Step 10: readiness assessed; Go (the delivery manager's, or for a
        major release the change manager's, after training)."""
        self.record("dm", "readiness_assessments", risks="Low: rehearsed rollback.", issues="None open.",
                    recommendation="Go.")
        if self.type == "major":
            self.record("dm", "training_plans", plan="Service desk briefing; runbook walkthrough.", status="planned")
            self.amend("dm", "training_plans", status="done")
        # The release manager may not decide Go (segregation of duties): 403.
        refused = self.c["rm"].post(PERFORM.replace("{resource}", "releases"),
                                    path={"id": self.release, "name": "approve_go"},
                                    body={"signature": {"password": self.c.password}}, expect=403).body
        assert refused["code"], refused
        if no_go_first:
            self.transition(decider, "no_go", reason="Payment provider announced maintenance tonight.")
            self.transition("rm", "prepare")
        self.transition(decider, "approve_go")
        decision = self.read("rm", "go_decisions")[-1]
        assert decision["decision"] == "go"
        self.try_offered(decider, "go_decisions", decision, create=True)

    def deploy(self, *, lifts=(), **payload):
        """Steps 11 and 12: the backup, then the deployment with its tasks,
        the vendor's among them (over the API and its signed inbound door)."""
        self.record("rm", "backups", what="Application and database", location="vault://backups/checkout",
                    taken_at=iso(datetime.now(timezone.utc)), verified=False)
        self.amend("rm", "backups", verified=True)
        self.transition("rm", "record_backup")
        self.transition("deployer", "start_deployment", lifts=lifts, **payload)
        self.work("deployer", self.deploy_task, "start", "block", "unblock", "complete")
        self.work("deployer", self.team_task, "start", "complete")
        self.vendor_works()
        self.transition("deployer", "complete_deployment")
        deployments = self.read("rm", "deployments")
        assert len(deployments) == 1 and deployments[0]["completed_at"]
        self.try_offered("deployer", "deployments", deployments[0], create=True)

    def vendor_works(self):
        vendor = self.c["vendor"]
        mine = [t["id"] for t in vendor.get("/api/tasks/", query={"release": self.release}).items()]
        assert mine == [self.vendor_task], mine
        vendor.patch("/api/tasks/{id}/", path={"id": self.vendor_task}, body={"vendor_ticket_ref": "ACME-4711"})
        self.inbound({"task": self.vendor_task, "transition": "start", "vendor_ticket_ref": "ACME-4711"})
        self.work("vendor", self.vendor_task, "complete")

    def inbound(self, update: dict):
        """The vendor's system reports through the signed inbound door
        (README "Vendor signature (v2)"): HMAC-SHA256 over six lines."""
        body = json.dumps(update).encode()
        path = f"/api/vendors/{self.c.vendor_id}/inbound/"
        timestamp, key = str(int(time.time())), f"acme-{uuid.uuid4().hex}"
        text = "\n".join(["v2", "POST", path, timestamp, key, hashlib.sha256(body).hexdigest()])
        signature = hmac.new(self.c.vendor_secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        headers = {"X-Release-Timestamp": timestamp, "Idempotency-Key": key, "X-Release-Signature": f"v2={signature}"}
        answer = self.c["anonymous"].post("/api/vendors/{vendor_id}/inbound/", path={"vendor_id": self.c.vendor_id},
                                          raw_body=body, headers=headers).body
        assert answer["task"] == update["task"], answer

    def verify_and_review(self, outcome="success"):
        """Steps 13 to 16: health check, change evaluation, PIR and decision."""
        self.record("deployer", "health_checks", passed=True, details="All endpoints answer; error rate 0.1%.")
        self.transition("rm", "verify_deployment")
        self.record("cm", "evaluations", summary="Latency objective met.", meets_objectives=outcome == "success")
        self.transition("cm", "evaluate")
        self.transition("cm", "start_review")
        self.record("cm", "reviews", outcome=outcome, findings="p95 280 ms." if outcome == "success" else
                    "Error rate above 5% since the deployment.")
        if outcome == "success":
            self.transition("cm", "accept")
            assert self.c["rm"].get("/api/rfcs/{id}/", path={"id": self.rfc}).body["state"] == "reviewed"

    def roll_back(self):
        """Steps 17 and 18: advice, the signed rollback, the problem record,
        the restore, the failure communicated."""
        self.record("cm", "rollback_advice", advice="The PIR found the change failed; roll back.")
        self.transition("rm", "rollback")
        self.record("rm", "problem_references", reference="PRB-0042", description="Root cause analysis.")
        self.amend("rm", "problem_references", description="Root cause analysis of the error rate.")
        self.transition("rm", "complete_rollback")
        assert self.c["cm"].get("/api/rfcs/{id}/", path={"id": self.rfc}).body["state"] == "failed"
        self.record("rm", "communications", kind="failure_notice", rfc_requesters=True,
                    subject=f"{self.tag} was rolled back", body="The change failed; see PRB-0042.")
        self.problem()

    def problem(self):
        """Problem Management analyses the rolled-back release."""
        cm = self.c["cm"]
        problem = cm.post("/api/problems/", body={"release": self.release,
                                                  "description": "Error rate after deployment."}).body
        path = {"id": problem["id"]}
        etag = cm.get("/api/problems/{id}/", path=path).etag
        cm.patch("/api/problems/{id}/", path=path, headers={"If-Match": etag},
                 body={"root_cause": "Cache keys collided across tenants."})
        self.transition("cm", "identify_root_cause", resource="problems", obj=problem["id"])
        cm.put("/api/problems/{id}/", path=path, body={
            "release": self.release, "title": problem["title"], "description": "Error rate after deployment.",
            "root_cause": "Cache keys collided across tenants.",
            "corrective_actions": "Tenant id in every cache key; a test for it."})
        self.transition("rm", "close", resource="problems", obj=problem["id"])

    # --- steps 19 and 20 ---------------------------------------------------------------------------------------

    def close(self, comment: str, restored: bool = False):
        """Step 19: closure comments on every RFC, the ticket closed; step 20:
        the CMDB at the new (or restored) versions, with a new baseline."""
        self.record("rm", "closure_comments", rfc=self.rfc, comment=comment)
        self.amend("rm", "closure_comments", comment=comment + " Status passed to Change Management.")
        self.transition("rm", "close")
        confman = self.c["confman"]
        rfc = confman.get("/api/rfcs/{id}/", path={"id": self.rfc}).body
        assert rfc["state"] == "closed" and rfc["closure_comments"].startswith(comment)
        api = confman.get("/api/cis/{id}/", path={"id": self.cis["api"]}).body
        assert api["version"] == ("2.3" if restored else "2.4"), api
        baselines = confman.get("/api/baselines/", query={"release": self.release}).items()
        kinds = {b["kind"]: b["id"] for b in baselines}
        assert set(kinds) == {"pre_release", "restored" if restored else "post_release"}, kinds
        after = kinds["restored" if restored else "post_release"]
        confman.get("/api/baselines/{id}/", path={"id": after})
        diff = confman.get("/api/baselines/{id}/diff/", path={"id": self.pre_baseline}, query={"other": after}).body
        assert (diff == []) if restored else {d["after"] for d in diff} == {"2.4", "14.2"}, diff
        assert self.c["rm"].get(TRANSITIONS.replace("{resource}", "releases"), path={"id": self.release}).body == []


# --- the four releases ---------------------------------------------------------------------------------------------


def minor(cast: Cast) -> Journey:
    j = Journey(cast, "minor", "minor")
    j.register_cis()
    j.authorised_rfc()
    j.raise_ticket()
    j.plan_and_approve()
    j.assign_and_schedule()
    j.package_and_build()
    j.test()
    j.update_plans()
    j.prepare()
    j.go("dm")
    j.deploy()
    j.verify_and_review()
    j.close("Delivered; latency objective met.")
    return j


def major(cast: Cast) -> Journey:
    """Rejected once by the CAB, a failed test sent back to build, a
    downtime broadcast, training before Go, and Go by the change manager."""
    j = Journey(cast, "major", "major")
    j.register_cis()
    j.authorised_rfc()
    j.raise_ticket()
    j.plan_and_approve(reject_first=True, downtime=True)
    j.assign_and_schedule()
    j.package_and_build()
    j.test(fail_once=True)
    j.update_plans(downtime=True)
    j.prepare()
    j.go("cm")
    j.record("rm", "communications", kind="downtime_broadcast", roles=["stakeholder"], ci_stakeholders=True,
             subject="Checkout down 10 minutes", body="During the deployment window.")
    j.deploy()
    j.verify_and_review()
    j.close("Delivered with the new checkout.")
    return j


def emergency(cast: Cast, freeze_window) -> Journey:
    """One ECAB vote, a deferred test with its justification, and a
    deployment inside a freeze window on its CIs, with the override reason.
    ``freeze_window(journey)`` puts the freeze on the journey's CIs."""
    j = Journey(cast, "emergency", "hotfix")
    j.register_cis()
    j.authorised_rfc()
    j.raise_ticket()
    j.plan_and_approve(voters=("cab1",))
    freeze_window(j)
    reason = {"freeze_override_reason": "Card payments fail; the fix cannot wait for the freeze to end."}
    j.assign_and_schedule(deferred_test=True, lifts=("freeze_window",), **reason)
    j.package_and_build()
    j.test(outcomes=("passed", None))
    j.update_plans()
    j.prepare()
    j.go("dm")
    j.deploy(lifts=("freeze_window",), **reason)
    j.verify_and_review()
    j.close("Hotfix delivered under the freeze, override recorded.")
    return j


def rolled_back(cast: Cast) -> Journey:
    """A No-Go first, then Go; the PIR finds the change failed: rollback on
    the change manager's advice, a problem record, the CIs restored."""
    j = Journey(cast, "minor", "payments")
    j.register_cis()
    j.authorised_rfc()
    j.raise_ticket()
    j.plan_and_approve()
    j.assign_and_schedule()
    j.package_and_build()
    j.test()
    j.update_plans()
    j.prepare()
    j.go("dm", no_go_first=True)
    j.deploy()
    j.verify_and_review(outcome="rollback_required")
    j.roll_back()
    j.close("Rolled back: error rate above threshold; see PRB-0042.", restored=True)
    return j
