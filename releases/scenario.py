"""Walk a release through the process with the records each step needs.

Used by ``seed_demo`` to stand demo releases at different steps, and by the
tests to reach any state through the real services only (no shortcuts: every
move is a transition of the one service, made by a user holding the role).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from changes.models import ChangeRequest
from changes.services import rfc_create, rfc_transition
from releasemgmt.signing import Password
from releasemgmt.workflow import name_of, specs

from . import services as s
from .choices import ReleaseType
from .models import RECORD_TYPES, Release, Task


@dataclass
class Actors:
    """One user per role, as the process needs them."""

    release_manager: object
    change_manager: object
    cab_members: list
    delivery_manager: object
    build_team: object
    test_team: object
    deployment_team: object
    configuration_manager: object
    requester: object
    # The password the actors sign their decisions with (the demo's, or the
    # tests' users'): signed decisions ask for it again, as in the UI.
    password: str = ""

    def signature(self) -> Password:
        return Password(self.password)


def authorised_rfc(actors: Actors, title: str, **fields):
    rfc = rfc_create(by=actors.requester, title=title, description=f"{title}: requested change.", **fields)
    rfc_transition(rfc_id=rfc.pk, name=name_of(ChangeRequest.assess), by=actors.change_manager)
    rfc_transition(rfc_id=rfc.pk, name=name_of(ChangeRequest.authorize), by=actors.change_manager,
                   signature=actors.signature())
    return rfc


def new_release(actors: Actors, *, title="Quarterly release", release_type=ReleaseType.MINOR, rfcs=None, cis=(),
                now=None) -> Release:
    now = now or timezone.now()
    rfcs = rfcs or [authorised_rfc(actors, f"Change for {title}")]
    release = s.release_create(by=actors.release_manager, title=title, release_type=release_type, rfcs=rfcs,
                               planned_start=now - timedelta(days=1), planned_end=now + timedelta(days=14),
                               description=f"{title}.")
    for ci in cis:
        s.scope_set(release_id=release.pk, ci=ci, target_version=_bump(ci.version), by=actors.release_manager)
    return release


def _bump(version: str) -> str:
    parts = (version or "1.0").split(".")
    try:
        parts[-1] = str(int(parts[-1]) + 1)
    except ValueError:
        parts.append("1")
    return ".".join(parts)


class Walker:
    """Moves one release forward, one step at a time."""

    def __init__(self, release: Release, actors: Actors):
        self.release = release
        self.a = actors

    # -- helpers --
    def go(self, name, by, **payload):
        """Take a step; a signed one (approve_plan, approve_go, ...) signed by ``by``."""
        if specs(Release)[name].signed is not None:
            payload.setdefault("signature", self.a.signature())
        self.release = s.release_transition(release_id=self.release.pk, name=name, by=by, **payload)
        return self.release

    def add(self, record_type, by, **data):
        """Write a step record; a signed one (a CAB vote) signed by ``by``."""
        if RECORD_TYPES[record_type].signed:
            data.setdefault("signature", self.a.signature())
        return s.record_add(release_id=self.release.pk, record_type=record_type, by=by, **data)

    @property
    def rm(self):
        return self.a.release_manager

    def plan(self):
        r = self.release
        start = r.planned_start + timedelta(hours=2)
        return self.add("plans", self.rm, scope="Components listed in the release scope.",
                        deployment_start=start, deployment_end=r.planned_end - timedelta(hours=2),
                        deployment_approach="Rolling deployment, one node at a time.",
                        risks="Service degradation during the rollout; mitigated by the rollback plan.",
                        teams="Build, test and deployment teams.")

    # -- the steps, keyed by the state they leave --
    def new(self):
        self.go(name_of(Release.start_planning), self.rm)

    def planning(self):
        if self.release.current_plan is None:
            self.plan()
        self.go(name_of(Release.submit_plan), self.rm)

    def plan_submitted(self):
        quorum = 1 if self.release.release_type == ReleaseType.EMERGENCY else 2
        for member in self.a.cab_members[:quorum]:
            self.add("votes", member, decision="approve", comment="Plan reviewed; risks acceptable.")
        self.go(name_of(Release.approve_plan), self.a.cab_members[0])

    def plan_approved(self):
        r = self.release
        if not r.tasks.exists():
            for step, title, who in ((4, "Assemble packages", self.a.build_team),
                                     (12, "Deploy to production", self.a.deployment_team)):
                s.task_create(release_id=r.pk, by=self.rm, title=title, step=step, assignee_user=who,
                              planned_start=r.planned_start + timedelta(hours=3),
                              planned_end=r.planned_end - timedelta(hours=3))
        if not r.test_cases.exists():
            self.add("test_cases", self.a.test_team, name="Smoke test", mandatory=True)
            self.add("test_cases", self.a.test_team, name="Regression suite", mandatory=True)
        self.go(name_of(Release.schedule), self.rm)

    def scheduled(self):
        self.go(name_of(Release.start_packaging), self.rm)

    def packaging(self):
        for task in self.release.tasks.filter(step=4, state="open"):
            s.task_transition(task_id=task.pk, name=name_of(Task.start), by=self.rm)
            s.task_transition(task_id=task.pk, name=name_of(Task.complete), by=self.rm)
        self.go(name_of(Release.start_build), self.rm)

    def building(self):
        r = self.release
        if r.build_document is None:
            self.add("build_documents", self.a.build_team, build_install_test_plans="Build with make; install scripts.",
                     monitoring_qa="Dashboards and QA sign-off.", deployment_procedures="Ansible playbook deploy.yml.",
                     rollback_procedures="Redeploy the previous artefacts.", remediation_steps="Page on-call; restore.")
        if r.latest("security_checks") is None:
            self.add("security_checks", self.a.build_team, passed=True, notes="Dependency scan clean.")
        if not r.prerequisite_checks.exists():
            self.add("prerequisite_checks", self.a.build_team, description="Database migrations reviewed", verified=True)
        if r.pre_release_baseline is None:
            s.release_capture_baseline(release_id=r.pk, by=self.a.configuration_manager)
        self.go(name_of(Release.complete_build), self.a.build_team)

    def built(self):
        self.go(name_of(Release.start_testing), self.rm)

    def testing(self):
        for case in self.release.test_cases.all():
            if case.mandatory and case.latest_outcome != "passed":
                self.add("test_results", self.a.test_team, test_case=case, outcome="passed")
        self.go(name_of(Release.pass_tests), self.rm)

    def tests_passed(self):
        r = self.release
        if r.current_plan.created_in_state != "tests_passed":
            self.plan()
        if r.rollback_plan is None:
            self.add("rollback_plans", self.rm, content="Restore the pre-release baseline.", verification="tested")
        if not r.pre_implementation_checks.exists():
            self.add("pre_implementation_checks", self.rm, description="Change window confirmed", passed=True)
        self.go(name_of(Release.update_plans), self.rm)

    def plans_updated(self):
        r = self.release
        if not r.environment_readiness.exists():
            self.add("environment_readiness", self.a.deployment_team, environment="production", ready=True)
        if not r.acceptance_criteria:
            s.release_update(release_id=r.pk, by=self.rm, acceptance_criteria="All health checks green for 1 hour.")
        self.add("communications", self.rm, kind="stakeholder_notice", roles=["stakeholder"],
                 subject=f"{r.number} is coming", body="Details in the release calendar.")
        if r.release_type == ReleaseType.MAJOR and r.latest("training_plans") is None:
            self.add("training_plans", self.rm, plan="Service desk briefing.", status="done")
        self.release.refresh_from_db()
        self.go(name_of(Release.prepare), self.rm)

    def ready(self):
        if self.release.latest("readiness_assessments") is None:
            self.add("readiness_assessments", self.a.delivery_manager, risks="Low.", recommendation="Go.")
        decider = self.a.change_manager if self.release.release_type == ReleaseType.MAJOR else self.a.delivery_manager
        self.go(name_of(Release.approve_go), decider)

    def go_(self):
        self.add("backups", self.rm, what="Application and database", location="backup vault",
                 taken_at=timezone.now(), verified=True)
        self.go(name_of(Release.record_backup), self.rm)

    def backed_up(self):
        self.go(name_of(Release.start_deployment), self.a.deployment_team)

    def deploying(self):
        for task in self.release.tasks.filter(step=12, state="open"):
            s.task_transition(task_id=task.pk, name=name_of(Task.start), by=self.a.deployment_team)
            s.task_transition(task_id=task.pk, name=name_of(Task.complete), by=self.a.deployment_team)
        self.go(name_of(Release.complete_deployment), self.a.deployment_team)

    def deployed(self):
        self.add("health_checks", self.rm, passed=True, details="All endpoints answer.")
        self.go(name_of(Release.verify_deployment), self.rm)

    def verified(self):
        self.add("evaluations", self.a.change_manager, summary="Objectives met.")
        self.go(name_of(Release.evaluate), self.a.change_manager)

    def evaluated(self):
        self.go(name_of(Release.start_review), self.a.change_manager)

    def in_review(self):
        self.add("reviews", self.a.change_manager, outcome="success", findings="No incidents.")
        self.go(name_of(Release.accept), self.a.change_manager)

    def _closure(self):
        for rfc in self.release.rfcs.all():
            self.add("closure_comments", self.rm, rfc=rfc, comment=f"Closed with {self.release.number}.")
        for task in self.release.tasks.exclude(state__in=("done", "cancelled")):
            s.task_transition(task_id=task.pk, name=name_of(Task.cancel), by=self.rm,
                              reason="Not needed after closure.")
        self.go(name_of(Release.close), self.rm)

    succeeded = _closure
    rolled_back = _closure

    def rolling_back(self):
        self.go(name_of(Release.complete_rollback), self.rm)

    def start_rollback(self):
        self.add("rollback_advice", self.a.delivery_manager, advice="Error rate above threshold; roll back.")
        self.go(name_of(Release.rollback), self.rm)

    def to(self, target: str, *, rollback_from: str | None = None) -> Release:
        """Advance until the release stands in ``target``; with
        ``rollback_from``, roll back on reaching that state instead of going on."""
        guard = 0
        while self.release.state != target:
            guard += 1
            if guard > 40:
                raise RuntimeError(f"cannot reach {target} from {self.release.state}")
            state = self.release.state
            if rollback_from and state == rollback_from:
                self.start_rollback()
                continue
            getattr(self, "go_" if state == "go" else state)()
        return self.release
