"""What a step of the release process does to related objects.

Each effect is declared on its transition, beside its guards
(``custom={"effects": [...]}`` in ``releases.models.release``), and
``workflow.run_transition`` runs them in the order declared, inside the
transition's transaction, once the release has moved and its step is
logged: a refusal in an effect (an RFC that cannot follow) undoes the step.

An effect is called as ``effect(release, spec, by=, payload=, at=, source=)``.
It writes the release's own records through the release's relations, and
changes a related object (an RFC, a CI, a baseline) through that object's
own transition or service, never by hand. Nothing here imports the release
models: they import this module to declare their steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from cmdb.choices import BaselineKind
from cmdb.services import baseline_capture, baseline_restore, ci_set_version
from releasemgmt.workflow import name_of, run_transition

from .choices import DeploymentOutcome, ReleaseState


@dataclass(frozen=True)
class DriveRfcs:
    """The release performs ``transition`` (a ``ChangeRequest`` transition)
    on each of its RFCs standing in one of ``only_from``: Change Management's
    record follows the release."""

    transition: object
    only_from: tuple[str, ...]

    def __call__(self, release, spec, *, by, **_):
        name = name_of(self.transition)
        for rfc in release.rfcs.all().order_by("pk"):
            if rfc.state in self.only_from:
                run_transition(type(rfc), rfc.pk, name, by=by, system=True)


@dataclass(frozen=True)
class CloseRfcs:
    """Step 19: the release closes its RFCs in one of ``only_from`` with the
    closure comment it wrote on each."""

    transition: object
    only_from: tuple[str, ...]

    def __call__(self, release, spec, *, by, **_):
        name = name_of(self.transition)
        comments = {c.rfc_id: c.comment for c in release.closure_comments.all()}
        for rfc in release.rfcs.all().order_by("pk"):
            if rfc.state in self.only_from:
                run_transition(type(rfc), rfc.pk, name, by=by, system=True,
                               payload={"comments": comments.get(rfc.pk, "")})


@dataclass(frozen=True)
class RecordGoDecision:
    """Step 10: the Go/No-Go decision record, written by the decision itself
    (nobody writes one by hand), with the reason given."""

    decision: str

    def __call__(self, release, spec, *, by, payload, **_):
        release.go_decisions.create(created_by=by, reason=payload.get("reason", ""), decision=self.decision)


# What a deployer (a CI/CD pipeline through the deployment gate) may tell
# the deployment record when it starts the deployment, and when it completes it.
DEPLOYMENT_START_FIELDS = ("environment", "run_url", "commit")
DEPLOYMENT_END_FIELDS = ("log_url",)


def start_deployment_record(release, spec, *, by, payload, at, **_):
    """Step 12: the deployment record opens when the deployment starts, with
    the reason an emergency release gave for starting inside a freeze, and
    the pipeline run, commit and environment when a pipeline starts it."""
    release.deployments.create(created_by=by, started_at=at,
                               freeze_override_reason=payload.get("freeze_override_reason", ""),
                               **{k: str(payload.get(k) or "") for k in DEPLOYMENT_START_FIELDS})


def complete_deployment_record(release, spec, *, by, at, payload=None, **_):
    """Step 12: the open deployment record is completed (succeeded), with the
    log of the run when a pipeline reports it."""
    deployment = release.latest("deployments")
    deployment.completed_at = at
    deployment.outcome = DeploymentOutcome.SUCCEEDED
    for key in DEPLOYMENT_END_FIELDS:
        if (payload or {}).get(key):
            setattr(deployment, key, str(payload[key]))
    deployment._history_user = by
    deployment.save()


def restore_baseline(release, spec, *, by, **_):
    """Step 17: the CIs go back to the pre-release baseline (the restore point)."""
    baseline_restore(baseline=release.pre_release_baseline, by=by, reason=f"{release.number} rolled back")


def update_cmdb(release, spec, *, by, source, **_):
    """Step 20: apply the target versions (or, after a rollback, keep the
    restored ones) and capture the baseline that now describes the live
    configuration."""
    rolled_back = source == ReleaseState.ROLLED_BACK
    scope = list(release.scope_items.select_related("ci"))
    if not rolled_back:
        for item in scope:
            ci_set_version(ci=item.ci, version=item.target_version, by=by, reason=f"{release.number} closed")
    kind = BaselineKind.RESTORED if rolled_back else BaselineKind.POST_RELEASE
    baseline_capture(cis=[i.ci for i in scope], kind=kind, release=release, by=by, system=True,
                     name=f"{release.number} {'restored' if rolled_back else 'post-release'}")


def apply_template(release, spec, *, by, **_):
    """Step 2: the part of the release's template whose step opens with
    planning, its rollback plan skeleton, written as the release manager's
    rollback plan record (not yet tested or verified) unless the release has
    one already. (The step's roles are the rollback plan's writers, and
    planning is one of its open states.)"""
    template = release.template
    if template is None or not template.rollback_plan.strip() or release.rollback_plans.exists():
        return
    plan = release.rollback_plans.model(release=release, created_by=by, content=template.rollback_plan)
    plan.full_clean()
    plan._history_user = by
    plan.save()
