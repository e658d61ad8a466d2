"""A release through all 20 steps, and a rolled-back one, using only HTTP.

Every step is a request made with the token of the user whose role performs
it: the requester raises the RFC, the change manager assesses and authorises
it, the release manager raises and plans the release, two CAB members vote,
the build, test and deployment teams and a vendor do their parts, the
delivery manager decides Go, the change manager evaluates and reviews, and
the release manager closes; the configuration manager registers the CIs.
Nothing is written through the ORM or a service except the users and the
vendor, which the API does not manage.

Set ``API_DOCS_DUMP=/some/file.json`` to write every exchange (who, request,
status, response) to a file: docs/api.md quotes them.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from releases.models import Vendor
from tests.helpers import iso
from tests.signatures import PASSWORD

pytestmark = pytest.mark.django_db

EXCHANGES: list[dict] = []
# Signed decisions (RFC authorisation, CAB votes and approval, Go, rollback)
# carry the decider's password; every test user has this one.
SIGNED = {"signature": {"password": PASSWORD}}


class Http:
    """One user's side of the API: every call asserts the status it expects
    and returns the decoded body."""

    def __init__(self, client, who: str):
        self.client = client
        self.who = who

    def _call(self, method, path, data=None, expect=200, headers=None):
        kwargs = {"format": "json"} if data is not None else {}
        response = getattr(self.client, method)(path, data, headers=headers or {}, **kwargs)
        body = response.json() if response.content else None
        assert response.status_code == expect, (self.who, method.upper(), path, data, response.status_code, body)
        EXCHANGES.append({"who": self.who, "method": method.upper(), "path": path, "request": data,
                          "headers": headers or {}, "status": response.status_code, "response": body,
                          "etag": response.get("ETag")})
        return body

    def get(self, path, expect=200, headers=None):
        return self._call("get", path, expect=expect, headers=headers)

    def post(self, path, data=None, expect=201, headers=None):
        return self._call("post", path, {} if data is None else data, expect=expect, headers=headers)

    def patch(self, path, data, expect=200, headers=None):
        return self._call("patch", path, data, expect=expect, headers=headers)

    def go(self, release_id, name, expect=200, **body):
        """Perform one transition of the release."""
        return self.post(f"/api/releases/{release_id}/transitions/{name}/", body, expect=expect)

    def record(self, release_id, record_type, **data):
        return self.post(f"/api/releases/{release_id}/{record_type}/", data)

    def task(self, task_id, name, **body):
        return self.post(f"/api/tasks/{task_id}/transitions/{name}/", body, expect=200)


@pytest.fixture
def people(actors, make_user, client_for):
    """An ``Http`` per role, authenticated with the user's token."""
    vendor_user = make_user("vendor", username="acme-agent")
    vendor = Vendor.objects.create(name="Acme Payments", email="queue@acme.test")
    vendor.users.add(vendor_user)
    users = {
        "requester": actors.requester, "rm": actors.release_manager, "cm": actors.change_manager,
        "cab1": actors.cab_members[0], "cab2": actors.cab_members[1], "dm": actors.delivery_manager,
        "builder": actors.build_team, "tester": actors.test_team, "deployer": actors.deployment_team,
        "confman": actors.configuration_manager, "vendor": vendor_user, "stakeholder": make_user("stakeholder"),
    }
    http = {name: Http(client_for(user), name) for name, user in users.items()}
    http["users"] = users
    http["vendor_obj"] = vendor
    return http


class Journey:
    """The 20 steps, one method per stretch of the process."""

    def __init__(self, people):
        self.p = people
        self.now = timezone.now()

    def register_cis(self):
        """The CMDB as it stands before the release: a database and the API on it."""
        confman = self.p["confman"]
        db = confman.post("/api/cis/", {"name": "orders-db", "ci_type": "database", "version": "14.1"})
        api = confman.post("/api/cis/", {"name": "orders-api", "ci_type": "application", "version": "2.3",
                                         "depends_on": [db["id"]]})
        assert api["depends_on"] == [db["id"]] and api["status"] == "live"
        self.cis = (api["id"], db["id"])

    def state(self):
        return self.p["rm"].get(f"/api/releases/{self.release}/")["state"]

    def rfc_authorised(self):
        requester, cm = self.p["requester"], self.p["cm"]
        rfc = requester.post("/api/rfcs/", {"title": "Faster checkout",
                                            "description": "Cache the basket totals to cut checkout latency.",
                                            "change_type": "normal", "risk": "medium", "impact": "low"})
        assert rfc["state"] == "submitted" and rfc["requester"] == self.p["users"]["requester"].pk
        self.rfc = rfc["id"]
        assert cm.post(f"/api/rfcs/{self.rfc}/transitions/assess/", expect=200)["state"] == "assessed"
        assert cm.post(f"/api/rfcs/{self.rfc}/transitions/authorize/", SIGNED, expect=200)["state"] == "authorized"

    def raise_and_plan(self):
        """Steps 1 and 2: the ticket, its scope, the plan and the CAB."""
        rm = self.p["rm"]
        release = rm.post("/api/releases/", {
            "title": "Checkout 2.4", "description": "Basket caching.", "release_type": "minor",
            "rfcs": [self.rfc], "planned_start": iso(self.now - timedelta(days=1)),
            "planned_end": iso(self.now + timedelta(days=14))})
        assert release["state"] == "new" and release["step"] == 1 and release["rfcs"] == [self.rfc]
        self.release = r = release["id"]
        self.window = (self.now - timedelta(days=1), self.now + timedelta(days=14))
        api_ci, db_ci = self.cis
        rm.post(f"/api/releases/{r}/scope/", {"ci": api_ci, "target_version": "2.4"})
        rm.post(f"/api/releases/{r}/scope/", {"ci": db_ci, "target_version": "14.2"})
        assert [i["target_version"] for i in rm.get(f"/api/releases/{r}/scope/")] == ["2.4", "14.2"]

        rows = {t["name"]: t for t in rm.get(f"/api/releases/{r}/transitions/")}
        assert rows["start_planning"]["allowed"] and rows["start_planning"]["target"] == "planning"
        assert rm.go(r, "start_planning")["state"] == "planning"
        blocked = {t["name"]: t for t in rm.get(f"/api/releases/{r}/transitions/")}["submit_plan"]
        assert not blocked["allowed"] and blocked["blockers"][0]["code"] == "plan_missing"
        self.plan(version=1)
        assert rm.go(r, "submit_plan")["state"] == "plan_submitted"

        rows = {t["name"]: t for t in self.p["cab1"].get(f"/api/releases/{r}/transitions/")}
        assert rows["approve_plan"]["signature_required"] and not rows["cancel"]["signature_required"]
        for member in ("cab1", "cab2"):
            vote = self.p[member].record(r, "votes", decision="approve", comment="Plan reviewed; risks acceptable.",
                                         **SIGNED)
            assert vote["plan"] is not None
        # Approving is a signed decision: refused unsigned (400) or wrongly signed (403).
        unsigned = self.p["cab1"].go(r, "approve_plan", expect=400)
        assert unsigned["code"] == "signature_required"
        wrong = self.p["cab1"].go(r, "approve_plan", expect=403, signature={"password": "not-my-password"})
        assert wrong["code"] == "signature_invalid"
        assert self.p["cab1"].go(r, "approve_plan", **SIGNED)["state"] == "plan_approved"

    def plan(self, *, version):
        start, end = self.window
        plan = self.p["rm"].record(
            self.release, "plans", scope="orders-api 2.4 and orders-db 14.2.",
            deployment_start=iso(start + timedelta(hours=2)), deployment_end=iso(end - timedelta(hours=2)),
            deployment_approach="Rolling deployment, one node at a time.",
            risks="Checkout degradation during rollout; mitigated by the rollback plan.",
            teams="Build, test and deployment teams; Acme Payments.")
        assert plan["version"] == version

    def assign_and_schedule(self):
        """Step 3: activities with assignees and dates, then the calendar."""
        rm, r = self.p["rm"], self.release
        users = self.p["users"]
        start, end = self.window
        dates = {"planned_start": iso(start + timedelta(hours=3)), "planned_end": iso(end - timedelta(hours=3))}
        self.packaging_task = rm.post("/api/tasks/", {"release": r, "title": "Assemble packages", "step": 4,
                                                      "assignee_user": users["builder"].pk, **dates})["id"]
        self.deploy_task = rm.post("/api/tasks/", {"release": r, "title": "Deploy to production", "step": 12,
                                                   "assignee_user": users["deployer"].pk, **dates})["id"]
        self.vendor_task = rm.post("/api/tasks/", {"release": r, "title": "Switch payment gateway profile",
                                                   "step": 12, "assignee_vendor": self.p["vendor_obj"].pk,
                                                   **dates})["id"]
        tester = self.p["tester"]
        self.cases = [tester.record(r, "test_cases", name=name, mandatory=True)["id"]
                      for name in ("Smoke test", "Regression suite")]
        assert rm.go(r, "schedule")["state"] == "scheduled"
        assert rm.get(f"/api/rfcs/{self.rfc}/")["state"] == "scheduled"

    def package_and_build(self):
        """Steps 4 and 5."""
        rm, builder, r = self.p["rm"], self.p["builder"], self.release
        assert rm.go(r, "start_packaging")["state"] == "packaging"
        builder.task(self.packaging_task, "start")
        assert builder.task(self.packaging_task, "complete")["state"] == "done"
        assert rm.go(r, "start_build")["state"] == "building"
        builder.record(r, "build_documents", build_install_test_plans="make release; install.sh; pytest -m smoke.",
                       monitoring_qa="Checkout dashboards; QA sign-off.",
                       deployment_procedures="Ansible playbook deploy.yml.",
                       rollback_procedures="Redeploy the 2.3 artefacts; restore the pre-release baseline.",
                       remediation_steps="Page on-call; roll back within 30 minutes.")
        builder.record(r, "security_checks", passed=True, notes="Dependency scan clean.")
        builder.record(r, "prerequisite_checks", description="Database migrations reviewed", verified=True)
        baseline = self.p["confman"].post(f"/api/releases/{r}/baseline/")
        assert baseline["kind"] == "pre_release" and {i["version"] for i in baseline["items"]} == {"2.3", "14.1"}
        self.pre_baseline = baseline["id"]
        assert builder.go(r, "complete_build")["state"] == "built"

    def test_and_update_plans(self):
        """Steps 6 to 8."""
        rm, tester, r = self.p["rm"], self.p["tester"], self.release
        assert rm.go(r, "start_testing")["state"] == "testing"
        for case in self.cases:
            tester.record(r, "test_results", test_case=case, outcome="passed", notes="Green.")
        assert rm.go(r, "pass_tests")["state"] == "tests_passed"
        self.plan(version=2)
        rm.record(r, "rollback_plans", content="Restore the pre-release baseline; redeploy 2.3.",
                  verification="tested", verification_notes="Rehearsed in staging.")
        rm.record(r, "pre_implementation_checks", description="Change window confirmed with the business",
                  passed=True)
        assert rm.go(r, "update_plans")["state"] == "plans_updated"

    def prepare_and_go(self):
        """Steps 9 and 10."""
        rm, r = self.p["rm"], self.release
        self.p["deployer"].record(r, "environment_readiness", environment="production", ready=True)
        etag = rm.client.get(f"/api/releases/{r}/")["ETag"]
        rm.get(f"/api/releases/{r}/")
        updated = rm.patch(f"/api/releases/{r}/", {"acceptance_criteria": "Checkout p95 below 300 ms for 1 hour."},
                           headers={"If-Match": etag})
        assert updated["acceptance_criteria"].startswith("Checkout p95")
        rm.record(r, "communications", kind="stakeholder_notice", roles=["stakeholder"],
                  subject="Checkout 2.4 is coming", body="Deployment window in the release calendar.")
        assert rm.go(r, "prepare")["state"] == "ready"
        dm = self.p["dm"]
        dm.record(r, "readiness_assessments", risks="Low: rehearsed rollback.", issues="None open.",
                  recommendation="Go.")
        refused = rm.go(r, "approve_go", expect=403)
        assert refused["code"] == "forbidden"
        assert dm.go(r, "approve_go", **SIGNED)["state"] == "go"
        assert [d["decision"] for d in rm.get(f"/api/releases/{r}/go_decisions/")] == ["go"]

    def deploy(self):
        """Steps 11 to 13: backup, deployment (with the vendor), health check."""
        rm, deployer, vendor, r = self.p["rm"], self.p["deployer"], self.p["vendor"], self.release
        rm.record(r, "backups", what="Application and database", location="vault://backups/checkout",
                  taken_at=iso(timezone.now()), verified=True)
        assert rm.go(r, "record_backup")["state"] == "backed_up"
        assert deployer.go(r, "start_deployment")["state"] == "deploying"
        deployer.task(self.deploy_task, "start")
        deployer.task(self.deploy_task, "complete")

        mine = vendor.get("/api/tasks/")["results"]
        assert [t["id"] for t in mine] == [self.vendor_task]
        vendor.patch(f"/api/tasks/{self.vendor_task}/", {"vendor_ticket_ref": "ACME-4711"})
        vendor.task(self.vendor_task, "start")
        assert vendor.task(self.vendor_task, "complete")["state"] == "done"

        assert deployer.go(r, "complete_deployment")["state"] == "deployed"
        deployments = rm.get(f"/api/releases/{r}/deployments/")
        assert len(deployments) == 1 and deployments[0]["completed_at"]

    def verify(self):
        rm, r = self.p["rm"], self.release
        rm.record(r, "health_checks", passed=True, details="All endpoints answer; error rate 0.1%.")
        assert rm.go(r, "verify_deployment")["state"] == "verified"

    def evaluate_and_review(self):
        """Steps 14 to 16."""
        cm, r = self.p["cm"], self.release
        cm.record(r, "evaluations", summary="Latency objective met.", meets_objectives=True)
        assert cm.go(r, "evaluate")["state"] == "evaluated"
        assert cm.go(r, "start_review")["state"] == "in_review"
        cm.record(r, "reviews", outcome="success", findings="No incidents; p95 280 ms.")
        assert cm.go(r, "accept")["state"] == "succeeded"
        assert self.p["rm"].get(f"/api/rfcs/{self.rfc}/")["state"] == "reviewed"

    def close(self, comment):
        """Steps 19 and 20."""
        rm, r = self.p["rm"], self.release
        rm.record(r, "closure_comments", rfc=self.rfc, comment=comment)
        closed = rm.go(r, "close")
        assert closed["state"] == "closed" and closed["step"] == 20
        return closed


@pytest.fixture
def journey(people):
    EXCHANGES.clear()
    journey = Journey(people)
    journey.register_cis()
    yield journey
    dump = os.environ.get("API_DOCS_DUMP")
    if dump:
        with open(dump, "w") as f:
            json.dump(EXCHANGES, f, indent=2, default=str)


def test_a_release_goes_through_all_20_steps_over_http(journey, people):
    j = journey
    j.rfc_authorised()
    j.raise_and_plan()
    j.assign_and_schedule()
    j.package_and_build()
    j.test_and_update_plans()
    j.prepare_and_go()
    j.deploy()
    j.verify()
    j.evaluate_and_review()
    j.close("Delivered with Checkout 2.4; latency objective met.")

    rm = people["rm"]
    assert rm.get(f"/api/releases/{j.release}/")["state"] == "closed"
    rfc = rm.get(f"/api/rfcs/{j.rfc}/")
    assert rfc["state"] == "closed" and rfc["closure_comments"].startswith("Delivered with Checkout 2.4")
    api_ci, db_ci = j.cis
    assert rm.get(f"/api/cis/{api_ci}/")["version"] == "2.4"
    assert rm.get(f"/api/cis/{db_ci}/")["version"] == "14.2"
    baselines = {b["kind"]: b for b in rm.get(f"/api/baselines/?release={j.release}")["results"]}
    assert set(baselines) == {"pre_release", "post_release"}
    post = baselines["post_release"]
    assert post["state"] == "captured" and {i["name"]: i["version"] for i in post["items"]} == {
        "orders-api": "2.4", "orders-db": "14.2"}
    diff = rm.get(f"/api/baselines/{j.pre_baseline}/diff/?other={post['id']}")
    assert [(d["name"], d["before"], d["after"]) for d in diff] == [("orders-api", "2.3", "2.4"),
                                                                    ("orders-db", "14.1", "14.2")]
    # Nothing more to do, and nobody can skip back.
    assert rm.get(f"/api/releases/{j.release}/transitions/") == []
    assert rm.go(j.release, "start_build", expect=409)["code"] == "invalid_state"
    # Every step is in the history the API shows the stakeholders too.
    assert people["stakeholder"].get(f"/api/releases/{j.release}/")["state"] == "closed"


def test_a_failed_release_is_rolled_back_and_closed_over_http(journey, people):
    j = journey
    j.rfc_authorised()
    j.raise_and_plan()
    j.assign_and_schedule()
    j.package_and_build()
    j.test_and_update_plans()
    j.prepare_and_go()
    j.deploy()
    rm, r = people["rm"], j.release

    # The release manager authorises a rollback only on advice.
    refused = rm.go(r, "rollback", expect=409)
    assert [b["code"] for b in refused["blockers"]] == ["rollback_not_advised"]
    people["dm"].record(r, "rollback_advice", advice="Error rate above 5% after deployment; roll back.")
    assert rm.go(r, "rollback", **SIGNED)["state"] == "rolling_back"
    rm.record(r, "problem_references", reference="PRB-0042", description="Root cause analysis of the errors.")
    assert rm.go(r, "complete_rollback")["state"] == "rolled_back"
    assert rm.get(f"/api/rfcs/{j.rfc}/")["state"] == "failed"
    rm.record(r, "communications", kind="failure_notice", rfc_requesters=True,
              subject="Checkout 2.4 was rolled back", body="The change failed; see PRB-0042.")
    j.close("Rolled back: error rate above threshold; see PRB-0042.")

    assert rm.get(f"/api/rfcs/{j.rfc}/")["state"] == "closed"
    api_ci, db_ci = j.cis
    assert rm.get(f"/api/cis/{api_ci}/")["version"] == "2.3"
    assert rm.get(f"/api/cis/{db_ci}/")["version"] == "14.1"
    kinds = {b["kind"] for b in rm.get(f"/api/baselines/?release={r}")["results"]}
    assert kinds == {"pre_release", "restored"}
